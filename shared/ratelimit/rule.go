package ratelimit

import (
	"net/http"

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
