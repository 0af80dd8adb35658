package licenses

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
	"github.com/coditect-ai/license-server/shared/licenses"
)

var hostileBodies = []string{`{"product":"coditect","seats":2}`,
	`{"product":"coditect","seats":5,"lease_ttl_seconds":120,"expires_at":"2030-01-01T00:00:00Z","require_user":true,"max_seats_per_user":1,"leasing":"per_user"}`,
	`{"seats":0}`, `{"seats":-1}`, `{"seats":100001}`, `{"seats":1e400}`, `{"seats":18446744073709551616}`,
	`{"seats":9223372036854775807}`, `{"seats":-9223372036854775808}`, `{"seats":2.5}`, `{"seats":"2"}`, `{"seats":null}`,
	`{"product":"p","seats":1,"seats":100001}`, `{"product":"'; DROP TABLE licenses;--","seats":1}`,
	`{"product":"\"]])redis.call('FLUSHALL')--","seats":1}`, `{"product":"p\u0000","seats":1}`,
	"{\"product\":\"\xff\",\"seats\":1}", `{"product":"p","seats":1,"lease_ttl_seconds":0}`,
	`{"product":"p","seats":1,"lease_ttl_seconds":86401}`, `{"product":"p","seats":1,"lease_ttl_seconds":null}`,
	`{"product":"p","seats":1,"expires_at":"2001-01-01T00:00:00Z"}`, `{"product":"p","seats":1,"expires_at":"tomorrow"}`,
	`{"product":"p","seats":1,"expires_at":"99999-01-01T00:00:00Z"}`, `{"product":"p","seats":1,"leasing":"per_%s"}`,
	`{"product":"p","seats":1,"max_seats_per_user":0}`, `{"status":"suspended"}`, `{"status":"deleted"}`,
	`{"expires_at":null}`, `{"max_seats_per_user":null}`, `{"require_user":"yes"}`, `{}`, `null`,
	strings.Repeat("[", 10000), `{"seats":{"seats":{"seats":1}}}`,
	// Cases the seeds above miss.
	``,                            // an empty body
	"\ufeff{}",                    // a byte order mark: malformed JSON
	`{"seats":3} x`,               // data after the object
	`"x"`,                         // a JSON value, not an object
	`{"product":"p","seats":0}`,   // a create whose seats alone are wrong
	`{"lease_ttl_seconds":86401}`, // a patch whose TTL alone is wrong
	`{"seats":3,"expires_at":null,"max_seats_per_user":null}`, // a patch clearing both nullable fields
	`{"linger_seconds":300,"revive_seconds":60}`,              // a patch of the resume policies alone
	`{"product":"p","seats":1,"linger_seconds":86401}`, `{"product":"p","seats":1,"revive_seconds":-1}`,
	`{"revive_seconds":901}`, `{"linger_seconds":null}`, `{"revive_seconds":"60"}`, `{"linger_seconds":1.5}`,
	// The overage policy: a commercial term, taken whole and strictly.
	`{"overage":{"mode":"percent","value":20}}`, `{"product":"p","seats":7,"overage":{"mode":"absolute","value":3}}`,
	`{"overage":{"mode":"unlimited"}}`, `{"overage":{"mode":"none","value":0}}`, `{"overage":null}`,
	`{"overage":{"mode":"percent","value":0}}`, `{"overage":{"mode":"percent","value":1001}}`,
	`{"overage":{"mode":"absolute","value":-1}}`, `{"overage":{"mode":"unlimited","value":5}}`,
	`{"overage":{"mode":"lots","value":5}}`, `{"overage":{"mode":"percent","value":20,"cap":3}}`,
	`{"overage":{"mode":"percent","value":"20"}}`, `{"overage":"percent"}`, `{"overage":{}}`,
	// The borrow policy: a usage policy, taken whole and strictly.
	`{"borrow":{}}`, `{"borrow":null}`, `{"product":"p","seats":3,"borrow":{"max_seconds":3600,"max_concurrent":2,"min_online_seats":1}}`,
	`{"borrow":{"max_seconds":3599}}`, `{"borrow":{"max_seconds":7776001}}`, `{"borrow":{"max_concurrent":0}}`,
	`{"borrow":{"min_online_seats":-1}}`, `{"borrow":{"max_seconds":null}}`, `{"borrow":{"days":3}}`,
	`{"borrow":{"max_seconds":"3600"}}`, `{"borrow":true}`, `{"borrow":[]}`, `{"borrow":{"max_seconds":3600.5}}`,
}

// borrowOK is the documented borrow policy rule for a policy given.
func borrowOK(b borrowPolicy) bool {
	return (b.MaxSeconds == nil || *b.MaxSeconds >= 3600 && *b.MaxSeconds <= 7776000) &&
		(b.MaxConcurrent == nil || *b.MaxConcurrent >= 1 && *b.MaxConcurrent <= MaxSeats) &&
		(b.MinOnlineSeats == nil || *b.MinOnlineSeats >= 0 && *b.MinOnlineSeats <= MaxSeats)
}

// overageOK is the documented overage policy rule.
func overageOK(o overagePolicy) bool {
	switch o.Mode {
	case "none", "unlimited":
		return o.Value == 0
	case "percent":
		return o.Value >= 1 && o.Value <= MaxOveragePercent
	case "absolute":
		return o.Value >= 1 && o.Value <= MaxSeats
	}
	return false
}

// productOK is the documented product rule without the regexp: 1-100
// ASCII letters, digits or . _ : -, starting with a letter or digit.
func productOK(s string) bool {
	if len(s) < 1 || len(s) > 100 || strings.ContainsAny(s[:1], "._:-") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:-", c) >= 0) {
			return false
		}
	}
	return true
}

func leasingOK(s string) bool { return s == licenses.PerFingerprint || s == licenses.PerUser }

// FuzzDecodeCreate: never a panic; a refusal is a 4xx *httpjson.Error; an
// accepted license has a valid product, seats in 1..MaxSeats, a lease TTL
// in 1..MaxLeaseTTL, an expiry (if any) after now, a known leasing mode, a
// per-user limit (if any) in 1..MaxSeats, linger and revive seconds in
// their ranges and an overage policy that means an allowance (none when
// absent).
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range hostileBodies {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCreate(httptest.NewRecorder(), httpjsontest.Request(http.MethodPost, "/", body), now)
		if err != nil {
			httpjsontest.Refused(t, "decoding", body, err)
			return
		}
		bad := !productOK(req.Product) || !req.Seats.Set || req.Seats.Null || req.Seats.Value < 1 || req.Seats.Value > MaxSeats ||
			req.LeaseTTLSeconds.Null || req.LeaseTTLSeconds.Value < 1 || req.LeaseTTLSeconds.Value > MaxLeaseTTL ||
			!req.LeaseTTLSeconds.Set && req.LeaseTTLSeconds.Value != min(DefaultLeaseTTL, req.MaxLeaseTTLSeconds.Value) ||
			req.MaxLeaseTTLSeconds.Null || req.MaxLeaseTTLSeconds.Value < 1 || req.MaxLeaseTTLSeconds.Value > MaxLeaseTTL ||
			req.LeaseTTLSeconds.Value > req.MaxLeaseTTLSeconds.Value ||
			req.ExpiresAt.Set && !req.ExpiresAt.Null && !req.ExpiresAt.Value.After(now) ||
			!leasingOK(req.Leasing) ||
			req.MaxSeatsPerUser != nil && (*req.MaxSeatsPerUser < 1 || *req.MaxSeatsPerUser > MaxSeats) ||
			req.LingerSeconds.Null || req.LingerSeconds.Value < 0 || req.LingerSeconds.Value > MaxLingerSeconds ||
			req.ReviveSeconds.Null || req.ReviveSeconds.Value < 0 || req.ReviveSeconds.Value > MaxReviveSeconds ||
			req.Overage.Null || !overageOK(req.Overage.Value) ||
			req.Borrow.Set && !req.Borrow.Null && !borrowOK(req.Borrow.Value)
		if bad {
			t.Fatalf("decodeCreate(%.80q) accepted %+v", body, req)
		}
	})
}

// FuzzDecodePatch: an accepted patch changes something, nulls only
// expires_at, max_seats_per_user and max_instances_per_seat, and every value
// it sets is valid; one
// from a caller that is not the platform sets no commercial term.
func FuzzDecodePatch(f *testing.F) {
	for _, s := range hostileBodies {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`{"require_user":true,"seats":3}`), false)
	f.Add([]byte(`{"lease_ttl_seconds":600,"max_lease_ttl_seconds":60}`), true)
	f.Fuzz(func(t *testing.T, body []byte, platform bool) {
		req, err := decodePatch(httptest.NewRecorder(), httpjsontest.Request(http.MethodPost, "/", body), platform)
		if err != nil {
			httpjsontest.Refused(t, "decoding", body, err)
			return
		}
		commercial := req.Seats.Set || req.Status.Set || req.ExpiresAt.Set || req.MaxLeaseTTLSeconds.Set || req.Overage.Set
		set := commercial || req.LeaseTTLSeconds.Set || req.RequireUser.Set || req.MaxSeatsPerUser.Set || req.Leasing.Set ||
			req.MaxInstancesPerSeat.Set || req.LingerSeconds.Set || req.ReviveSeconds.Set || req.Borrow.Set
		bad := !set || commercial && !platform || req.MaxLeaseTTLSeconds.Null ||
			req.MaxLeaseTTLSeconds.Set && (req.MaxLeaseTTLSeconds.Value < 1 || req.MaxLeaseTTLSeconds.Value > MaxLeaseTTL ||
				req.LeaseTTLSeconds.Set && req.LeaseTTLSeconds.Value > req.MaxLeaseTTLSeconds.Value) || req.Seats.Null || req.Status.Null || req.LeaseTTLSeconds.Null || req.RequireUser.Null || req.Leasing.Null ||
			req.Seats.Set && (req.Seats.Value < 1 || req.Seats.Value > MaxSeats) ||
			req.LeaseTTLSeconds.Set && (req.LeaseTTLSeconds.Value < 1 || req.LeaseTTLSeconds.Value > MaxLeaseTTL) ||
			req.Status.Set && req.Status.Value != "active" && req.Status.Value != "suspended" ||
			req.Leasing.Set && !leasingOK(req.Leasing.Value) ||
			req.MaxSeatsPerUser.Set && !req.MaxSeatsPerUser.Null && (req.MaxSeatsPerUser.Value < 1 || req.MaxSeatsPerUser.Value > MaxSeats) ||
			req.LingerSeconds.Null || req.LingerSeconds.Value < 0 || req.LingerSeconds.Value > MaxLingerSeconds ||
			req.ReviveSeconds.Null || req.ReviveSeconds.Value < 0 || req.ReviveSeconds.Value > MaxReviveSeconds ||
			req.Overage.Null || req.Overage.Set && !overageOK(req.Overage.Value) ||
			req.Borrow.Set && !req.Borrow.Null && !borrowOK(req.Borrow.Value)
		if bad {
			t.Fatalf("decodePatch(%.80q) accepted %+v", body, req)
		}
	})
}

// FuzzSessionsLimit: ?limit= of a sessions listing is refused with a 400
// or is in 1..maxSessionsListed.
func FuzzSessionsLimit(f *testing.F) {
	for _, q := range []string{"", "limit=1", "limit=1000", "limit=1001", "limit=0", "limit=-5", "limit=1e3", "limit=%00",
		"limit=99999999999999999999", "limit=5&limit=x", "limit=+7", "limit=%20%37"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, rawQuery string) {
		n, err := sessionsLimit(&http.Request{URL: &url.URL{Path: "/", RawQuery: rawQuery}})
		if err != nil {
			httpjsontest.Refused(t, "decoding", rawQuery, err)
			return
		}
		if n < 1 || n > maxSessionsListed {
			t.Fatalf("sessionsLimit(%q) = %d", rawQuery, n)
		}
	})
}
