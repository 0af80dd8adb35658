package license

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	c := &client{minBackoff: time.Second, maxBackoff: 30 * time.Second}
	for n := 0; n <= 100; n++ {
		want := 30 * time.Second
		if n <= 5 {
			want = time.Second << max(n-1, 0)
		}
		for range 50 {
			if d := c.backoff(n); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
	err := &APIError{Status: 503, RetryAfter: 2 * time.Second}
	for range 50 {
		if d := c.retryDelay(err, 7); d < 2*time.Second || d > 2200*time.Millisecond {
			t.Fatalf("retryDelay with Retry-After 2 s = %v", d)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for h, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, " 1 ": time.Second, "0": 0, "-1": 0, "soon": 0, "100000": maxRetryAfter,
		now.Add(7 * time.Second).Format(http.TimeFormat): 7 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):      0,
	} {
		if got := retryAfter(h, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", h, got, want)
		}
	}
}

func TestAPIErrorIs(t *testing.T) {
	t.Parallel()
	e := &APIError{Status: 409, Code: "user_seat_limit", Message: "m"}
	if !errors.Is(e, ErrNoSeats) || !errors.Is(e, ErrUserSeatLimit) || errors.Is(e, ErrLicenseInactive) {
		t.Fatal("user_seat_limit matches wrongly")
	}
	held := &APIError{Status: 409, Code: "instance_limit", Message: "m"}
	if !errors.Is(held, ErrNoSeats) || !errors.Is(held, ErrInstanceLimit) || errors.Is(held, ErrUserSeatLimit) {
		t.Fatal("instance_limit matches wrongly")
	}
	if !errors.Is(&APIError{Status: 503}, ErrUnavailable) {
		t.Fatal("a bare 503 is not ErrUnavailable")
	}
	if got := e.Error(); !strings.Contains(got, "409") || !strings.Contains(got, "user_seat_limit") {
		t.Fatalf("Error() = %q", got)
	}
}

func TestFingerprintHidesTheMachineID(t *testing.T) {
	t.Parallel()
	a, b := fingerprintOf("machine:0123456789abcdef"), fingerprintOf("machine:0123456789abcdeg")
	if a == b || strings.Contains(a, "0123456789abcdef") {
		t.Fatalf("fingerprints %q, %q", a, b)
	}
	for _, f := range machineIDFiles {
		raw, err := os.ReadFile(f)
		id := strings.TrimSpace(string(raw))
		if err != nil || !usableID(id) {
			continue
		}
		fp, _ := DefaultFingerprint()
		if strings.Contains(fp, id) || fp != fingerprintOf("machine:"+id) {
			t.Fatalf("DefaultFingerprint %q is not the hidden %s", fp, f)
		}
		return
	}
}

func TestUsableID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"": false, "00000000000000000000000000000000": false, "short": false,
		"0b6f7c3e2d4a4f7e9a513c2b1d0e9f88": true, "00000000-0000-0000-0000-000000000000": false,
	} {
		if usableID(id) != want {
			t.Errorf("usableID(%q) = %v", id, !want)
		}
	}
}
