package webhook_test

import (
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/webhook"
)

func fixed(r float64) func() float64 { return func() float64 { return r } }

func TestBackoffMedians(t *testing.T) {
	t.Parallel()
	want := []time.Duration{
		30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, 64 * time.Minute, 128 * time.Minute, 256 * time.Minute,
		6 * time.Hour, 6 * time.Hour, 6 * time.Hour, 6 * time.Hour, 6 * time.Hour,
	}
	prev := time.Duration(0)
	for n := 1; n <= 15; n++ {
		got := webhook.Backoff(n, 0, fixed(0.5))
		if got != want[n-1] {
			t.Errorf("Backoff(%d) with rnd 0.5 = %s, want %s", n, got, want[n-1])
		}
		if got < prev {
			t.Errorf("Backoff(%d) = %s is below Backoff(%d) = %s", n, got, n-1, prev)
		}
		if got > 6*time.Hour {
			t.Errorf("Backoff(%d) = %s is above the 6 h cap", n, got)
		}
		prev = got
	}
	if got := webhook.Backoff(1, 0, nil); got != 30*time.Second {
		t.Errorf("Backoff(1) without rnd = %s, want 30s (no jitter)", got)
	}
	for _, n := range []int{0, -1, -1000} {
		if got := webhook.Backoff(n, 0, fixed(0.5)); got != 30*time.Second {
			t.Errorf("Backoff(%d) = %s, want the first wait, 30s", n, got)
		}
	}
	for _, n := range []int{16, 64, 1000, 1 << 30} {
		if got := webhook.Backoff(n, 0, fixed(0.999)); got != 6*time.Hour {
			t.Errorf("Backoff(%d) = %s, want the cap (no overflow)", n, got)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	t.Parallel()
	for n := 1; n <= 15; n++ {
		median := webhook.Backoff(n, 0, fixed(0.5))
		low := webhook.Backoff(n, 0, fixed(0))
		high := webhook.Backoff(n, 0, fixed(0.999))
		if want := time.Duration(float64(median) * 0.8); low != want {
			t.Errorf("Backoff(%d) with rnd 0 = %s, want 80 %% of %s = %s", n, low, median, want)
		}
		if high > 6*time.Hour {
			t.Errorf("Backoff(%d) with rnd 0.999 = %s, above the cap", n, high)
		}
		if median < 6*time.Hour {
			lo, hi := time.Duration(float64(median)*1.199), time.Duration(float64(median)*1.2)
			if high < lo || high > hi {
				t.Errorf("Backoff(%d) with rnd 0.999 = %s, want about 120 %% of %s", n, high, median)
			}
		} else if high != 6*time.Hour {
			t.Errorf("Backoff(%d) with rnd 0.999 = %s, want the cap", n, high)
		}
	}
	// A source outside [0, 1) stays within the band.
	if got := webhook.Backoff(1, 0, fixed(-3)); got != 24*time.Second {
		t.Errorf("rnd -3: %s, want 24s", got)
	}
	if got := webhook.Backoff(1, 0, fixed(7)); got != 36*time.Second {
		t.Errorf("rnd 7: %s, want 36s", got)
	}
}

func TestBackoffRetryAfter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{1, 120 * time.Second, 120 * time.Second}, // larger than 30s: it wins
		{1, 10 * time.Second, 30 * time.Second},   // smaller: the backoff
		{1, 30 * time.Second, 30 * time.Second},
		{5, time.Minute, 8 * time.Minute},
		{15, 7 * time.Hour, 7 * time.Hour}, // above the backoff cap, below its own
		{15, 24 * time.Hour, 24 * time.Hour},
		{15, 48 * time.Hour, 24 * time.Hour}, // capped at a day
		{1, 1 << 62, 24 * time.Hour},
		{3, -time.Hour, 2 * time.Minute},
	}
	for _, c := range cases {
		if got := webhook.Backoff(c.attempt, c.retryAfter, fixed(0.5)); got != c.want {
			t.Errorf("Backoff(%d, Retry-After %s) = %s, want %s", c.attempt, c.retryAfter, got, c.want)
		}
	}
}

func TestNextAttempt(t *testing.T) {
	t.Parallel()
	first := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	half := fixed(0.5)

	next, ok := webhook.NextAttempt(first, first.Add(time.Second), 1, 0, half)
	if !ok || !next.Equal(first.Add(31*time.Second)) {
		t.Errorf("after attempt 1: %s, %v; want first + 31s", next, ok)
	}
	next, ok = webhook.NextAttempt(first, first.Add(time.Hour), 2, 10*time.Minute, half)
	if !ok || !next.Equal(first.Add(70*time.Minute)) {
		t.Errorf("a Retry-After of 10 min: %s, %v; want first + 70 min", next, ok)
	}

	// Right at the window's end is allowed; a second past it is not.
	now := first.Add(72*time.Hour - 6*time.Hour)
	if next, ok := webhook.NextAttempt(first, now, 15, 0, half); !ok || !next.Equal(first.Add(72*time.Hour)) {
		t.Errorf("a retry at the window's end: %s, %v", next, ok)
	}
	if next, ok := webhook.NextAttempt(first, now.Add(time.Second), 15, 0, half); ok {
		t.Errorf("a retry scheduled at %s, past the 72 h window", next)
	}
	if next, ok := webhook.NextAttempt(first, first.Add(72*time.Hour+time.Second), 1, 0, half); ok {
		t.Errorf("a retry scheduled at %s, after the window", next)
	}
	if next, ok := webhook.NextAttempt(first, first.Add(time.Hour), 1, 80*time.Hour, half); !ok || !next.Equal(first.Add(25*time.Hour)) {
		t.Errorf("a Retry-After of 80 h: %s, %v; want capped at 24 h", next, ok)
	}
	if next, ok := webhook.NextAttempt(first, first.Add(60*time.Hour), 2, 24*time.Hour, half); ok {
		t.Errorf("a Retry-After past the window scheduled at %s", next)
	}

	// A receiver down for good: every retry within the window, then none.
	at, attempt := first, 1
	for {
		next, ok := webhook.NextAttempt(first, at, attempt, 0, fixed(0.999))
		if !ok {
			break
		}
		if !next.After(at) || next.After(first.Add(webhook.RetryWindow)) {
			t.Fatalf("attempt %d scheduled at %s (previous %s)", attempt+1, next, at)
		}
		at, attempt = next, attempt+1
	}
	if attempt < 15 || attempt > 25 {
		t.Errorf("%d attempts in 72 h, want about 20", attempt)
	}
	if webhook.RetryWindow != 72*time.Hour {
		t.Errorf("RetryWindow = %s", webhook.RetryWindow)
	}
}
