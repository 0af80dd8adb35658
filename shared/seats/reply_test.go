package seats

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/tokens"
)

// The replies' decoding is tested in the package: a script reply of the
// wrong shape cannot be provoked through a real Redis without changing the
// scripts, and these tests need no server.

func TestAcquireReply(t *testing.T) {
	t.Parallel()
	req := AcquireRequest{LicenseID: "0b0f6c52-8f0a-4c4e-9b3c-3f7e1f3b6a11", Fingerprint: "ws-1",
		RateLimit: RateLimit{PerSecond: 5, Burst: 10}}
	req.LicenseKey, _, _ = tokens.NewLicenseKey(req.LicenseID)
	sessionID, err := tokens.NewSession(req.LicenseID, req.LicenseKey)
	if err != nil {
		t.Fatal(err)
	}
	expiry := time.UnixMilli(1_800_000_000_000).UTC()
	granted := func(vals ...any) []any { return append([]any{"granted"}, vals...) }
	ok := []any{sessionID.Digest, int64(expiry.UnixMilli()), int64(3), int64(10), int64(300), "tenant-1", int64(-1), sessionID.Nonce, "e"}

	g, err := acquireReply(parseResult("acquire", granted(ok...)), req, sessionID)
	if err != nil {
		t.Fatalf("a well-formed grant: %v", err)
	}
	want := Grant{SessionID: sessionID.ID, SessionDigest: sessionID.Digest, LicenseID: req.LicenseID, Fingerprint: "ws-1",
		ExpiresAt: expiry, SeatsUsed: 3, SeatsTotal: 10, LeaseTTL: 300 * time.Second, TenantID: "tenant-1", RateRemaining: -1, SeatClass: SeatEntitled}
	if g != want {
		t.Errorf("grant = %+v, want %+v", g, want)
	}
	// A grant beyond the seats, within the overage allowance.
	over := append([]any{}, ok...)
	over[8] = "o"
	if g, err := acquireReply(parseResult("acquire", granted(over...)), req, sessionID); err != nil || g.SeatClass != SeatOverage {
		t.Errorf("an overage grant = %+v, %v; want class overage", g, err)
	}
	// A resumed session's id is derived again from the nonce the script
	// returns. Redis hands numbers back as strings when a script returns
	// them so.
	earlier, _ := tokens.NewSession(req.LicenseID, req.LicenseKey)
	resumed := append([]any{"resumed"}, ok...)
	resumed[1], resumed[2], resumed[8] = earlier.Digest, "1800000000000", earlier.Nonce
	if g, err := acquireReply(parseResult("acquire", resumed), req, sessionID); err != nil || !g.Resumed || g.ExpiresAt != expiry ||
		g.SessionID != earlier.ID || g.SessionDigest != earlier.Digest {
		t.Errorf("a resumed grant with a numeric string = %+v, %v", g, err)
	}
	// A digest its nonce does not derive (a corrupt record) is an error,
	// never a wrong id handed out.
	resumed[1] = sessionID.Digest
	if g, err := acquireReply(parseResult("acquire", resumed), req, sessionID); err == nil || g != (Grant{}) ||
		strings.Contains(err.Error(), earlier.ID) || strings.Contains(err.Error(), sessionID.ID) {
		t.Errorf("a resumed grant whose digest does not match = %+v, %v", g, err)
	}
	var noSeats *NoSeatsError
	if _, err := acquireReply(parseResult("acquire", []any{"no_seats", int64(4), int64(4)}), req, sessionID); !errors.As(err, &noSeats) ||
		noSeats.Used != 4 || noSeats.Seats != 4 {
		t.Errorf("no_seats = %v", err)
	}
	var limited *RateLimitedError
	if _, err := acquireReply(parseResult("acquire", []any{"rate_limited", int64(250)}), req, sessionID); !errors.As(err, &limited) ||
		limited.RetryAfter != 250*time.Millisecond || limited.Limit != req.RateLimit {
		t.Errorf("rate_limited = %v", err)
	}
	if _, err := acquireReply(parseResult("acquire", []any{"blocked"}), req, sessionID); !errors.Is(err, ErrWorkstationBlocked) {
		t.Errorf("blocked = %v", err)
	}

	bad := map[string][]any{
		"empty reply":                 {},
		"status not a string":         {int64(1), "tok"},
		"unknown status":              {"granted_maybe", "tok"},
		"grant with no values":        {"granted"},
		"grant one value short":       granted(ok[:8]...),
		"grant of an unknown class":   granted(append(append([]any{}, ok[:8]...), "x")...),
		"class not a string":          granted(append(append([]any{}, ok[:8]...), int64(1))...),
		"expiry not a number":         granted("tok", "soon", int64(3), int64(10), int64(300), "tenant-1", int64(-1)),
		"seats of the wrong type":     granted("tok", int64(1), int64(3), []any{int64(10)}, int64(300), "tenant-1", int64(-1)),
		"tenant not a string":         granted("tok", int64(1), int64(3), int64(10), int64(300), int64(7), int64(-1)),
		"resumed digest not a string": append([]any{"resumed", int64(5)}, ok[1:]...),
		"resumed nonce not a string":  append(append([]any{"resumed"}, ok[:7]...), int64(5)),
		"no_seats without counts":     {"no_seats"},
		"no_seats count not number":   {"no_seats", "many", int64(4)},
		"rate_limited without delay":  {"rate_limited"},
		"user_limit one count short":  {"user_limit", int64(2)},
	}
	for name, raw := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g, err := acquireReply(parseResult("acquire", raw), req, sessionID)
			if err == nil {
				t.Fatalf("no error; grant %+v", g)
			}
			if g != (Grant{}) {
				t.Errorf("grant %+v with the error, want none", g)
			}
			if errors.Is(err, ErrNoSeats) || !strings.Contains(err.Error(), "acquire script: unexpected reply") {
				t.Errorf("error %q, want the acquire script's unexpected reply", err)
			}
		})
	}
}

func TestHeartbeatReply(t *testing.T) {
	t.Parallel()
	const licenseID, sessionID = "lic", "lic.tok"
	expiry := time.UnixMilli(1_800_000_000_000).UTC()
	const digest = "0123456789abcdef0123456789abcdef"
	g, err := heartbeatReply(parseResult("heartbeat", []any{"ok", int64(expiry.UnixMilli()), int64(60), "tenant-1", "ws-1", int64(1), int64(0), "o"}),
		licenseID, sessionID, digest)
	want := Grant{SessionID: sessionID, SessionDigest: digest, LicenseID: licenseID, ExpiresAt: expiry, LeaseTTL: time.Minute,
		TenantID: "tenant-1", Fingerprint: "ws-1", PerUser: true, SeatClass: SeatOverage}
	if err != nil || g != want {
		t.Errorf("a well-formed heartbeat = %+v, %v; want %+v", g, err, want)
	}
	g, err = heartbeatReply(parseResult("heartbeat", []any{"ok", int64(expiry.UnixMilli()), int64(60), "tenant-1", "ws-1", int64(0), int64(1), "e"}),
		licenseID, sessionID, digest)
	want.PerUser, want.Revived, want.SeatClass = false, true, SeatEntitled
	if err != nil || g != want {
		t.Errorf("a revival = %+v, %v; want %+v", g, err, want)
	}
	if _, err := heartbeatReply(parseResult("heartbeat", []any{"not_found"}), licenseID, sessionID, digest); !errors.Is(err, ErrSessionNotFound) {
		t.Errorf("not_found = %v", err)
	}
	for name, raw := range map[string][]any{
		"empty reply":             {},
		"ok with no values":       {"ok"},
		"ok one value short":      {"ok", int64(1), int64(60), "tenant-1", "ws-1", int64(0), int64(0)},
		"ok of an unknown class":  {"ok", int64(1), int64(60), "tenant-1", "ws-1", int64(0), int64(0), "overage"},
		"expiry not a number":     {"ok", "later", int64(60), "tenant-1", "ws-1", int64(0), int64(0)},
		"fingerprint of a number": {"ok", int64(1), int64(60), "tenant-1", int64(9), int64(0), int64(0)},
		"unknown status":          {"revived"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g, err := heartbeatReply(parseResult("heartbeat", raw), licenseID, sessionID, digest)
			if err == nil || g != (Grant{}) {
				t.Fatalf("= %+v, %v; want no grant and an error", g, err)
			}
			if !strings.Contains(err.Error(), "heartbeat script: unexpected reply") {
				t.Errorf("error %q, want the heartbeat script's unexpected reply", err)
			}
		})
	}
}

func TestReleaseReply(t *testing.T) {
	t.Parallel()
	until := time.UnixMilli(1_800_000_000_000).UTC()
	for name, c := range map[string]struct {
		raw  any
		want Released
	}{
		"held nothing":  {int64(0), Released{}},
		"seat freed":    {int64(1), Released{Released: true, SeatFreed: true}},
		"others hold":   {int64(2), Released{Released: true}},
		"into a linger": {[]any{int64(3), until.UnixMilli()}, Released{Released: true, LingersUntil: until}},
	} {
		if got, err := releaseReply(c.raw); err != nil || got != c.want {
			t.Errorf("%s: %v = %+v, %v; want %+v", name, c.raw, got, err, c.want)
		}
	}
	for name, raw := range map[string]any{
		"unknown code":       int64(4),
		"a word":             "released",
		"linger with no end": []any{int64(3)},
		"linger of a word":   []any{int64(3), "soon"},
		"a list of another":  []any{int64(1), until.UnixMilli()},
	} {
		if got, err := releaseReply(raw); err == nil || got != (Released{}) {
			t.Errorf("%s: %v = %+v, %v; want an error and nothing released", name, raw, got, err)
		}
	}
}
