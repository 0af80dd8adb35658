package ratelimit_test

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"testing"

	"github.com/coditect-ai/license-server/shared/clientaddr"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestGuard: the per-address guard lets an address's burst through, then
// refuses it with a 429 envelope and Retry-After, while other addresses,
// IPv6 hosts of another /64 and work no client drives still pass.
func TestGuard(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	rule := ratelimit.Rule{Limiter: newLimiter(t, rdb, prefix), Limit: ratelimit.PerMinute(1, 3)}
	at := func(a string) context.Context {
		return clientaddr.With(context.Background(), netip.MustParseAddr(a))
	}
	for i := range 3 {
		if err := rule.Guard(at("203.0.113.7")); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := rule.Guard(at("203.0.113.7"))
	var e *httpjson.Error
	if !errors.As(err, &e) || e.Status != http.StatusTooManyRequests || e.Code != "rate_limited" || e.RetryAfter < 1 ||
		e.Headers["RateLimit-Remaining"] != "0" {
		t.Fatalf("call over the burst: %#v", err)
	}
	if err := rule.Guard(at("203.0.113.8")); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// One IPv6 host holds its whole /64: a new address in it is the same
	// bucket, another /64 is not.
	for i, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"} {
		if err := rule.Guard(at(a)); err != nil {
			t.Fatalf("IPv6 call %d: %v", i, err)
		}
	}
	if err := rule.Guard(at("2001:db8:1:2:ffff::9")); !errors.As(err, &e) {
		t.Fatalf("a fourth address of the same /64 passed: %v", err)
	}
	if err := rule.Guard(at("2001:db8:1:3::1")); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	for range 5 {
		if err := rule.Guard(context.Background()); err != nil {
			t.Fatalf("no address (background work): %v", err)
		}
	}
	if err := (ratelimit.Rule{}).Guard(at("203.0.113.7")); err != nil {
		t.Fatalf("a zero rule: %v", err)
	}
}
