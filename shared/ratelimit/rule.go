package ratelimit

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/coditect-ai/license-server/shared/clientaddr"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/logging"
)

// Rule is a limit applied by one limiter; a zero Rule (nil limiter, or a
// zero rate) lets everything through, so rate limiting can be switched off
// by configuration.
type Rule struct {
	Limiter *Limiter
	Limit   Limit
}

// Allow checks one request for key and, when refused, has answered it with
// 429. A Redis failure lets the request through (see Check) and is logged
// on the request's line.
func (r Rule) Allow(w http.ResponseWriter, req *http.Request, key string) bool {
	if r.Limiter == nil || r.Limit.Rate <= 0 {
		return true
	}
	ok, err := r.Limiter.Check(w, req, key, r.Limit)
	if err != nil {
		logging.RecordError(req.Context(), err)
	}
	return ok
}

// Guard counts one request of the client address ctx carries
// (clientaddr.From), under the key "addr:<address or IPv6 /64>", and
// returns a 429 rate_limited *httpjson.Error with Retry-After when the
// address is over its limit. Callers run it just before work that no
// credential has paid for yet (a PostgreSQL read for a license or API key
// Redis does not know), so a flood of made-up credentials from one address
// cannot turn into a flood of queries, while calls Redis answers alone
// never pay for the count. A context without an address (background work)
// and a Redis that cannot count pass (fail open, as Check).
func (r Rule) Guard(ctx context.Context) error {
	if r.Limiter == nil || r.Limit.Rate <= 0 {
		return nil
	}
	addr, ok := clientaddr.From(ctx)
	if !ok {
		return nil
	}
	res, err := r.Limiter.Allow(ctx, "addr:"+clientaddr.Key(addr), r.Limit)
	if err != nil {
		logging.RecordError(ctx, err)
		return nil
	}
	if res.Allowed {
		return nil
	}
	retry := max(seconds(res.RetryAfter), 1)
	return &httpjson.Error{
		Status:     http.StatusTooManyRequests,
		Code:       "rate_limited",
		Message:    fmt.Sprintf("too many requests from this address; retry in %d s", retry),
		RetryAfter: retry,
		Headers: map[string]string{
			"RateLimit-Limit":     strconv.Itoa(r.Limit.Burst),
			"RateLimit-Remaining": "0",
			"RateLimit-Reset":     strconv.Itoa(seconds(max(res.ResetAfter, res.RetryAfter))),
		},
	}
}
