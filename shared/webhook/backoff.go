package webhook

import "time"

// The retry schedule. Waits double from FirstBackoff so that an endpoint
// down for minutes is retried within minutes, one down for a day is tried
// a few times an hour at most, and after RetryWindow the message is left
// for a manual redelivery rather than retried forever.
const (
	// FirstBackoff is the wait after the first failed attempt.
	FirstBackoff = 30 * time.Second
	// MaxBackoff caps the computed wait, jitter included.
	MaxBackoff = 6 * time.Hour
	// MaxRetryAfter caps what a receiver's Retry-After can ask for: a
	// receiver cannot park its messages for longer than a day.
	MaxRetryAfter = 24 * time.Hour
	// RetryWindow is how long after its first attempt a message is
	// retried: no attempt is scheduled later than first attempt +
	// RetryWindow.
	RetryWindow = 72 * time.Hour
	// jitter is the spread around the computed wait (±20 %), so that the
	// messages of an endpoint that was down are not all retried at once.
	jitter = 0.2
)

// Backoff returns the wait before attempt n+1 after attempt n (n ≥ 1; a
// smaller n counts as 1) failed with Outcome Retry: FirstBackoff doubled
// for each attempt after the first, capped at MaxBackoff, times a jitter
// factor from 0.8 to 1.2 (0.8 + 0.4·rnd()), then capped at MaxBackoff
// again, so the cap holds. rnd returns a float64 in [0, 1) (rand.Float64
// in production, fixed in tests); nil means no jitter. When retryAfter,
// the receiver's Retry-After, is longer than that wait, it is the wait,
// capped at MaxRetryAfter.
func Backoff(attempt int, retryAfter time.Duration, rnd func() float64) time.Duration {
	wait := FirstBackoff
	for i := 1; i < attempt && wait < MaxBackoff; i++ {
		wait *= 2 // stops at the cap: no overflow however large attempt is
	}
	wait = min(wait, MaxBackoff)
	r := 0.5 // the middle: no jitter
	if rnd != nil {
		r = min(max(rnd(), 0), 1) // a faulty source cannot leave the ±20 % band
	}
	factor := 1 - jitter + 2*jitter*r
	wait = min(time.Duration(float64(wait)*factor), MaxBackoff)
	if retryAfter > wait {
		return min(retryAfter, MaxRetryAfter)
	}
	return wait
}

// NextAttempt returns when to make attempt n+1 of a message whose first
// attempt was at first, attempt n having failed with Outcome Retry at now
// (retryAfter and rnd as for Backoff). It returns false when that time
// would be after first + RetryWindow: the message is then given up.
func NextAttempt(first, now time.Time, attempt int, retryAfter time.Duration, rnd func() float64) (time.Time, bool) {
	next := now.Add(Backoff(attempt, retryAfter, rnd))
	if next.After(first.Add(RetryWindow)) {
		return time.Time{}, false
	}
	return next, true
}
