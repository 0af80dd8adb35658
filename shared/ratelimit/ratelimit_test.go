package ratelimit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// The limiter must count on every Redis the service meets: a single node, a
// 3-master cluster, and the embedded Redis of `make run`.
func backends() map[string]func(t *testing.T) (redis.UniversalClient, string) {
	return map[string]func(t *testing.T) (redis.UniversalClient, string){
		"redis": func(t *testing.T) (redis.UniversalClient, string) {
			c, prefix := testenv.Redis(t)
			return c, prefix
		},
		"cluster": func(t *testing.T) (redis.UniversalClient, string) {
			return testenv.RedisCluster(t), "rl:"
		},
		"miniredis": func(t *testing.T) (redis.UniversalClient, string) {
			return testenv.MiniRedis(t), "rl:"
		},
	}
}

func newLimiter(t *testing.T, rdb redis.UniversalClient, prefix string) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(rdb, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAllow(t *testing.T) {
	t.Parallel()
	for name, backend := range backends() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			l := newLimiter(t, rdb, prefix)
			ctx := t.Context()
			limit := ratelimit.PerSecond(5, 5)
			for i := range 5 {
				res, err := l.Allow(ctx, "cred:a", limit)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Allowed || res.Remaining != 4-i || res.RetryAfter != 0 || res.Limit != limit {
					t.Fatalf("request %d: got %+v, want allowed with %d remaining", i+1, res, 4-i)
				}
			}
			res, err := l.Allow(ctx, "cred:a", limit)
			if err != nil {
				t.Fatal(err)
			}
			if res.Allowed || res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > 200*time.Millisecond {
				t.Fatalf("6th request: got %+v, want refused with 0 < RetryAfter <= 200ms", res)
			}
			// Another key has its own count.
			res, err = l.Allow(ctx, "cred:b", limit)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Allowed || res.Remaining != 4 {
				t.Fatalf("other key: got %+v, want allowed with 4 remaining", res)
			}
		})
	}
}

// Remaining after a first request is Burst-1 whatever the rate, including
// rates whose emission interval is not exact in binary floating point.
func TestAllowRemaining(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	l := newLimiter(t, rdb, prefix)
	limits := []ratelimit.Limit{
		ratelimit.PerSecond(5, 5),
		ratelimit.PerMinute(3, 3),
		ratelimit.PerMinute(100, 20),
		ratelimit.PerMinute(7, 1),
		ratelimit.PerSecond(3, 10),
		{Rate: 2, Burst: 2, Period: 200 * time.Millisecond},
		{Rate: 1000, Burst: 50, Period: time.Hour},
	}
	for i, limit := range limits {
		res, err := l.Allow(t.Context(), fmt.Sprintf("cred:%d", i), limit)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed || res.Remaining != limit.Burst-1 {
			t.Errorf("%+v: got %+v, want allowed with %d remaining", limit, res, limit.Burst-1)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	l := newLimiter(t, rdb, prefix)
	// Per minute, so the test cannot be slow enough for a request to come back.
	limit := ratelimit.PerMinute(3, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := l.Check(w, r, "lic:"+r.URL.Query().Get("id"), limit)
		if err != nil {
			t.Errorf("Check: %v", err)
		}
		if ok {
			io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	get := func(id string) (*http.Response, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + "/?id=" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}
	header := func(resp *http.Response, name string) int {
		t.Helper()
		v := resp.Header.Get(name)
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("%s: %q is not an integer", name, v)
		}
		return n
	}

	for i := range 3 {
		resp, body := get("one")
		if resp.StatusCode != http.StatusOK || body != "ok" {
			t.Fatalf("request %d: %d %q, want 200 ok", i+1, resp.StatusCode, body)
		}
		if got := header(resp, "RateLimit-Limit"); got != 3 {
			t.Errorf("request %d: RateLimit-Limit %d, want 3", i+1, got)
		}
		if got := header(resp, "RateLimit-Remaining"); got != 2-i {
			t.Errorf("request %d: RateLimit-Remaining %d, want %d", i+1, got, 2-i)
		}
		// Each request holds 20 s of the minute until the burst is full again.
		if got := header(resp, "RateLimit-Reset"); got != 20*(i+1) {
			t.Errorf("request %d: RateLimit-Reset %d, want %d", i+1, got, 20*(i+1))
		}
		if v := resp.Header.Get("Retry-After"); v != "" {
			t.Errorf("request %d: Retry-After %q on an allowed request", i+1, v)
		}
	}

	resp, body := get("one")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: %d %q, want 429", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if env.Error.Code != "rate_limited" || env.Error.Message == "" {
		t.Errorf("body %q, want the rate_limited envelope with a message", body)
	}
	if got := header(resp, "Retry-After"); got < 1 || got > 20 {
		t.Errorf("Retry-After %d, want 1..20", got)
	}
	if got := header(resp, "RateLimit-Limit"); got != 3 {
		t.Errorf("429: RateLimit-Limit %d, want 3", got)
	}
	if got := header(resp, "RateLimit-Remaining"); got != 0 {
		t.Errorf("429: RateLimit-Remaining %d, want 0", got)
	}
	if got := header(resp, "RateLimit-Reset"); got < 1 || got > 60 {
		t.Errorf("429: RateLimit-Reset %d, want 1..60", got)
	}

	// Another license is counted apart.
	if resp, _ := get("two"); resp.StatusCode != http.StatusOK || header(resp, "RateLimit-Remaining") != 2 {
		t.Errorf("other key: %d with %s remaining, want 200 with 2", resp.StatusCode, resp.Header.Get("RateLimit-Remaining"))
	}
}

// A limiter whose Redis is down lets every request through, touches nothing
// in the response, and hands back an error to log.
func TestCheckFailsOpen(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	l := newLimiter(t, rdb, "rl:")

	for range 3 {
		rec := httptest.NewRecorder()
		ok, err := l.Check(rec, httptest.NewRequest("GET", "/", nil), "cred:a", ratelimit.PerSecond(1, 1))
		if !ok || err == nil {
			t.Fatalf("Check = %v, %v; want true and an error", ok, err)
		}
		if !httpjson.Unavailable(err) {
			t.Errorf("error %v is not classed as a backend being unavailable", err)
		}
		if len(rec.Header()) != 0 || rec.Body.Len() != 0 {
			t.Errorf("Check wrote headers %v and body %q; want nothing", rec.Header(), rec.Body)
		}
	}
}

// Once the period has passed, the burst is back.
func TestRecovery(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	l := newLimiter(t, rdb, prefix)
	limit := ratelimit.Limit{Rate: 2, Burst: 2, Period: 200 * time.Millisecond}
	req := httptest.NewRequest("GET", "/", nil)
	check := func() *httptest.ResponseRecorder {
		t.Helper()
		rec := httptest.NewRecorder()
		ok, err := l.Check(rec, req, "cred:a", limit)
		if err != nil {
			t.Fatal(err)
		}
		if ok != (rec.Code == http.StatusOK) {
			t.Fatalf("Check returned %v but answered %d", ok, rec.Code)
		}
		return rec
	}
	for round := range 2 {
		for i := range 2 {
			if rec := check(); rec.Code != http.StatusOK {
				t.Fatalf("round %d request %d: %d, want 200", round+1, i+1, rec.Code)
			}
		}
		rec := check()
		if rec.Code != http.StatusTooManyRequests {
			t.Fatalf("round %d request 3: %d, want 429", round+1, rec.Code)
		}
		// 100 ms to wait, rounded up to a whole second.
		if got := rec.Header().Get("Retry-After"); got != "1" {
			t.Errorf("Retry-After %q, want 1", got)
		}
		time.Sleep(limit.Period)
	}
}

// Each limit key is one Redis key under the prefix, with the caller's key as
// its hash tag, and it expires.
func TestKeys(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	l := newLimiter(t, rdb, prefix)
	ctx := t.Context()
	if _, err := l.Allow(ctx, "cred:4f2a", ratelimit.PerMinute(10, 10)); err != nil {
		t.Fatal(err)
	}
	keys, _, err := rdb.Scan(ctx, 0, prefix+"*", 1000).Result()
	if err != nil {
		t.Fatal(err)
	}
	want := prefix + "rate:{cred:4f2a}"
	if len(keys) != 1 || keys[0] != want {
		t.Fatalf("keys under the prefix: %q, want [%q]", keys, want)
	}
	if ttl, err := rdb.TTL(ctx, want).Result(); err != nil || ttl <= 0 || ttl > time.Minute {
		t.Errorf("TTL of %s: %v, %v; want 0 < TTL <= 1m", want, ttl, err)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	rdb := testenv.MiniRedis(t)
	if _, err := ratelimit.New(nil, "rl:"); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := ratelimit.New(rdb, "rl:{x}:"); err == nil {
		t.Error("New with a hash tag in the prefix succeeded")
	}
	l := newLimiter(t, rdb, "rl:")
	ok := ratelimit.PerSecond(1, 1)
	cases := []struct {
		key   string
		limit ratelimit.Limit
	}{
		{"", ok},
		{"cred:{a}", ok},
		{"cred:}", ok},
		{"cred:a", ratelimit.Limit{}},
		{"cred:a", ratelimit.PerSecond(0, 1)},
		{"cred:a", ratelimit.PerSecond(1, 0)},
		{"cred:a", ratelimit.Limit{Rate: 1, Burst: 1, Period: -time.Second}},
	}
	for _, c := range cases {
		if res, err := l.Allow(context.Background(), c.key, c.limit); err == nil {
			t.Errorf("Allow(%q, %+v) = %+v, want an error", c.key, c.limit, res)
		}
		// Check fails open on them too: a bad limit must not take the API down.
		rec := httptest.NewRecorder()
		if allowed, err := l.Check(rec, httptest.NewRequest("GET", "/", nil), c.key, c.limit); !allowed || err == nil || len(rec.Header()) != 0 {
			t.Errorf("Check(%q, %+v) = %v, %v with headers %v; want true, an error, no headers", c.key, c.limit, allowed, err, rec.Header())
		}
	}
}
