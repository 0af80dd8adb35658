// Package ratelimit limits requests per credential and per license key.
//
// The counts live in Redis, so every function instance shares them. The
// algorithm is GCRA (a leaky bucket kept as one timestamp per key) from
// github.com/go-redis/redis_rate, run as one Lua script per request.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/httpjson"
)

// Limit is a rate: Rate requests per Period, of which up to Burst may come
// at once.
type Limit struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// PerSecond is rate requests a second with the given burst.
func PerSecond(rate, burst int) Limit {
	return Limit{Rate: rate, Burst: burst, Period: time.Second}
}

// PerMinute is rate requests a minute with the given burst.
func PerMinute(rate, burst int) Limit {
	return Limit{Rate: rate, Burst: burst, Period: time.Minute}
}

func (l Limit) validate() error {
	if l.Rate <= 0 || l.Burst <= 0 || l.Period <= 0 {
		return fmt.Errorf("invalid limit %d/%s burst %d: rate, burst and period must be positive", l.Rate, l.Period, l.Burst)
	}
	return nil
}

// Limiter counts requests per key in Redis.
//
// The Redis key of a limit key k is prefix + "rate:{" + k + "}": the prefix
// lets tests and deployments share a Redis, and the hash tag pins each limit
// key to one Redis Cluster slot.
type Limiter struct {
	gcra *redis_rate.Limiter
}

// New returns a limiter using rdb (a single node or a cluster). Every key it
// touches starts with prefix, which must not contain '{' or '}'.
func New(rdb redis.UniversalClient, prefix string) (*Limiter, error) {
	if rdb == nil {
		return nil, errors.New("ratelimit: nil redis client")
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("ratelimit: prefix %q must not contain '{' or '}'", prefix)
	}
	return &Limiter{gcra: redis_rate.NewLimiter(prefixed{rdb, prefix})}, nil
}

// Result of one check.
type Result struct {
	Allowed bool
	Limit   Limit
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// RetryAfter is how long until a request is allowed again; zero when
	// this one was allowed.
	RetryAfter time.Duration
	// ResetAfter is how long until the key is back to its full burst.
	ResetAfter time.Duration
}

// Allow counts one request for key under limit.
//
// key is chosen by the caller, such as "cred:<credential id>" or
// "lic:<license id>". It is stored in Redis as it is, so it must never hold
// a secret: pass ids or hashes, never an API key or a license key. It must
// not be empty or contain '{' or '}'.
func (l *Limiter) Allow(ctx context.Context, key string, limit Limit) (Result, error) {
	if key == "" || strings.ContainsAny(key, "{}") {
		return Result{}, fmt.Errorf("ratelimit: key %q must be non-empty without '{' or '}'", key)
	}
	if err := limit.validate(); err != nil {
		return Result{}, fmt.Errorf("ratelimit: %w", err)
	}
	res, err := l.gcra.Allow(ctx, "{"+key+"}", redis_rate.Limit{Rate: limit.Rate, Burst: limit.Burst, Period: limit.Period})
	if err != nil {
		return Result{}, fmt.Errorf("ratelimit: counting %q: %w", key, err)
	}
	out := Result{Allowed: res.Allowed > 0, Limit: limit, ResetAfter: max(res.ResetAfter, 0)}
	if out.Allowed {
		out.Remaining = remaining(limit, out.ResetAfter)
	} else {
		out.RetryAfter = max(res.RetryAfter, 0)
	}
	return out, nil
}

// remaining is how many requests fit in the burst now: Burst less the
// requests ResetAfter still holds, each an emission interval (Period/Rate).
//
// redis_rate's own Remaining is this quotient computed in the script, where
// float rounding often lands it just under the integer (0.9999…), which the
// integer reply truncates: PerMinute(100, 20) reports 18 left after the
// first request, not 19. ResetAfter comes back as a 14-digit decimal that
// is exact enough, and the small slack absorbs what rounding is left.
func remaining(limit Limit, resetAfter time.Duration) int {
	held := resetAfter.Seconds() * float64(limit.Rate) / limit.Period.Seconds()
	return max(int(math.Floor(float64(limit.Burst)-held+1e-3)), 0)
}

// Check counts one request for key under limit (see Allow for what a key may
// hold) and reports whether the request may proceed.
//
// Every checked response gets the headers RateLimit-Limit (the burst),
// RateLimit-Remaining and RateLimit-Reset (seconds until the full burst is
// back) of draft-ietf-httpapi-ratelimit-headers-06. A refused request is
// answered here: 429 rate_limited with Retry-After, and Check returns false.
//
// Check fails open: if Redis cannot be reached, or key or limit is invalid,
// it sets no headers, writes nothing, returns true and hands the error back
// for the caller to log. A rate limiter guards against abuse and overload;
// it is not what makes an answer correct, so while Redis is unreachable
// serving unlimited is better than refusing everyone: the limiter must never
// be the reason the API is down.
func (l *Limiter) Check(w http.ResponseWriter, r *http.Request, key string, limit Limit) (bool, error) {
	res, err := l.Allow(r.Context(), key, limit)
	if err != nil {
		return true, err
	}
	if res.Allowed {
		Headers(w, limit.Burst, res.Remaining, res.ResetAfter)
		return true, nil
	}
	Refuse(w, r, limit.Burst, res.ResetAfter, res.RetryAfter)
	return false, nil
}

// Headers sets the draft-ietf-httpapi-ratelimit-headers fields of an allowed
// request: the burst, what is left of it, and the seconds until it is full.
func Headers(w http.ResponseWriter, burst, remaining int, reset time.Duration) {
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(burst))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(remaining, 0)))
	h.Set("RateLimit-Reset", strconv.Itoa(seconds(reset)))
}

// Refuse answers a request over its limit: 429 rate_limited with
// Retry-After (at least a second) and the rate-limit headers.
func Refuse(w http.ResponseWriter, r *http.Request, burst int, reset, retryAfter time.Duration) {
	Headers(w, burst, 0, max(reset, retryAfter))
	retry := max(seconds(retryAfter), 1)
	httpjson.WriteError(w, r, &httpjson.Error{
		Status:     http.StatusTooManyRequests,
		Code:       "rate_limited",
		Message:    fmt.Sprintf("too many requests; retry in %d s", retry),
		RetryAfter: retry,
	})
}

// seconds rounds d up to whole seconds, after rounding it to the
// millisecond so that float noise from the script (20.00000006 s) does not
// add a second.
func seconds(d time.Duration) int {
	return int(math.Ceil(d.Round(time.Millisecond).Seconds()))
}

// prefixed puts prefix in front of every key redis_rate's scripts touch, so
// the limiter's keys start with the deployment's prefix like every other key
// (redis_rate itself only puts its fixed "rate:" in front). It embeds only
// the commands redis_rate uses, so a version of redis_rate that needs another
// command, which could touch a key unprefixed, fails to compile.
type prefixed struct {
	scripter
	prefix string
}

type scripter interface {
	redis.Scripter
	Del(ctx context.Context, keys ...string) *redis.IntCmd
}

func (p prefixed) keys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = p.prefix + k
	}
	return out
}

func (p prefixed) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.scripter.Eval(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.scripter.EvalSha(ctx, sha1, p.keys(keys), args...)
}

func (p prefixed) EvalRO(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return p.scripter.EvalRO(ctx, script, p.keys(keys), args...)
}

func (p prefixed) EvalShaRO(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return p.scripter.EvalShaRO(ctx, sha1, p.keys(keys), args...)
}

func (p prefixed) Del(ctx context.Context, keys ...string) *redis.IntCmd {
	return p.scripter.Del(ctx, p.keys(keys)...)
}
