package license_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/sdk/license"
)

func TestAcquireAndHeartbeatsRenewTheLease(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := f.config()
	cfg.Fingerprint = "" // the default one
	seat := acquire(t, cfg)

	if !seat.Valid() {
		t.Fatal("a fresh seat is not valid")
	}
	tok0, c0 := seat.Lease()
	st := seat.Status()
	fp, err := license.DefaultFingerprint()
	if err != nil {
		t.Fatal(err)
	}
	if c0.SessionDigest != leasejws.SessionDigest(st.SessionID) || c0.LicenseID != f.licenseID || c0.Fingerprint != fp ||
		c0.Issuer != testIssuer || !c0.ExpiresAt.Equal(st.ExpiresAt) || st.LastError != nil || st.Over {
		t.Fatalf("claims %+v, status %+v", c0, st)
	}
	f.set(func(f *fakeAPI) {
		if f.lastAcquire["fingerprint"] != fp || f.lastAcquire["os"] != runtime.GOOS || f.lastAcquire["license_key"] != f.key {
			t.Errorf("acquire request = %v", f.lastAcquire)
		}
		if f.lastAuth != "" {
			t.Errorf("an Authorization header without a credential: %q", f.lastAuth)
		}
	})

	eventually(t, 5*time.Second, "two heartbeats", func() bool { return f.count("/v1/heartbeat") >= 2 })
	tok1, c1 := seat.Lease()
	if tok1 == tok0 || c1.SessionDigest != c0.SessionDigest || c1.ExpiresAt.Before(c0.ExpiresAt) || !seat.Valid() {
		t.Fatalf("after heartbeats: same token %v, claims %+v (first %+v), valid %v", tok1 == tok0, c1, c0, seat.Valid())
	}
	if n := f.count("/v1/acquire"); n != 1 {
		t.Fatalf("%d acquires, want 1", n)
	}

	if err := seat.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if f.releases() != 1 {
		t.Fatalf("%d releases", f.releases())
	}
	select {
	case <-seat.Done():
	default:
		t.Fatal("Done not closed after Close")
	}
	if seat.Err() != nil || seat.Valid() {
		t.Fatalf("after Close: Err %v, Valid %v", seat.Err(), seat.Valid())
	}
	if tok, _ := seat.Lease(); tok != "" {
		t.Fatal("a closed seat still hands out its lease")
	}
	// No heartbeat after Close.
	n := f.count("/v1/heartbeat")
	time.Sleep(1500 * time.Millisecond)
	if m := f.count("/v1/heartbeat"); m != n {
		t.Fatalf("%d heartbeats after Close", m-n)
	}
}

// badLeaseKinds are the leases the SDK must refuse, wherever they come from.
var badLeaseKinds = []string{
	leaseTampered, leaseBadSignature, leaseUnpinnedRoot, leaseOtherIssuer, leaseOtherSession,
	leaseOtherLicense, leaseOtherFP, leaseHS256, leaseNone, leaseRootRS256, leaseOldDelegation, leaseYearDelegation,
	leaseJWTDelegation, leaseCertDelegation, leaseExpiredLeeway,
	leaseExpired, leaseGarbage, leaseEmpty, answerOtherSession,
}

func TestAcquireRejectsBadLeases(t *testing.T) {
	t.Parallel()
	for _, kind := range badLeaseKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.setBadLease("/v1/acquire", kind)
			seat, err := license.Acquire(context.Background(), f.config())
			if !errors.Is(err, license.ErrInvalidLease) {
				if seat != nil {
					seat.Close(context.Background())
				}
				t.Fatalf("Acquire = %v, want ErrInvalidLease", err)
			}
			if seat != nil {
				t.Fatal("a seat with a rejected lease")
			}
			// The seat the server granted is given back (the answer naming
			// another session names nothing we can release).
			want := 1
			if kind == answerOtherSession {
				want = 0
			}
			if got := f.releases(); got != want {
				t.Fatalf("%d seats released, want %d", got, want)
			}
		})
	}
}

func TestAcquireLeavesAResumedSessionAloneWhenItRejectsTheLease(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	seat := acquire(t, f.config())
	_ = seat
	f.setBadLease("/v1/acquire", leaseUnpinnedRoot)
	if _, err := license.Acquire(context.Background(), f.config()); !errors.Is(err, license.ErrInvalidLease) {
		t.Fatalf("Acquire = %v", err)
	}
	if f.releases() != 0 {
		t.Fatal("a resumed session (held before this call) was released")
	}
}

func TestHeartbeatRejectsBadLeases(t *testing.T) {
	t.Parallel()
	for _, kind := range badLeaseKinds {
		if kind == leaseExpired || kind == leaseExpiredLeeway {
			continue // heartbeats renew: covered by Acquire
		}
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			seat := acquire(t, f.config())
			tok0, _ := seat.Lease()
			f.setBadLease("/v1/heartbeat", kind)
			eventually(t, 5*time.Second, "two bad heartbeats", func() bool { return f.count("/v1/heartbeat") >= 2 })
			if tok, _ := seat.Lease(); tok != tok0 {
				t.Fatal("the seat took a bad lease")
			}
			if err := seat.Status().LastError; !errors.Is(err, license.ErrInvalidLease) {
				t.Fatalf("LastError = %v", err)
			}
			f.setBadLease("/v1/heartbeat", "")
			eventually(t, 5*time.Second, "a good lease again", func() bool {
				tok, _ := seat.Lease()
				return tok != tok0 && seat.Valid() && seat.Status().LastError == nil
			})
		})
	}
}

func TestSessionNotFoundAcquiresAgain(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	seat := acquire(t, f.config())
	sid0 := seat.Status().SessionID

	var invalid atomic.Bool
	stop := watchValid(seat, &invalid)
	defer stop()

	f.dropSessions() // the server lost its Redis
	eventually(t, 5*time.Second, "a new session", func() bool {
		return seat.Status().SessionID != sid0 && seat.Status().LastError == nil
	})
	_, c := seat.Lease()
	if c.SessionDigest != leasejws.SessionDigest(seat.Status().SessionID) || !seat.Valid() {
		t.Fatalf("lease of %s, status %+v", c.SessionDigest, seat.Status())
	}
	if invalid.Load() {
		t.Fatal("the seat was invalid while it acquired again")
	}
	if n := f.count("/v1/acquire"); n != 2 {
		t.Fatalf("%d acquires, want 2", n)
	}
}

// watchValid records in invalid whether the seat was ever not Valid until
// stop is called.
func watchValid(seat *license.Seat, invalid *atomic.Bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if !seat.Valid() {
				invalid.Store(true)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func TestOutageHonoursRetryAfterAndKeepsTheSeatValid(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.set(func(f *fakeAPI) { f.ttl = 4 * time.Second }) // leases last ≥ 3 s (whole seconds)
	seat := acquire(t, f.config())
	exp0 := seat.Status().ExpiresAt

	f.setFault("/v1/heartbeat", &fault{status: http.StatusServiceUnavailable, code: "unavailable", retryAfter: 1})
	var invalid atomic.Bool
	stop := watchValid(seat, &invalid)
	eventually(t, 3*time.Second, "a failed heartbeat", func() bool { return seat.Status().LastError != nil })
	err := seat.Status().LastError
	var ae *license.APIError
	if !errors.Is(err, license.ErrUnavailable) || !errors.As(err, &ae) || ae.RetryAfter != time.Second {
		t.Fatalf("LastError = %v", err)
	}
	// Ride out the outage until just before the lease would run out.
	time.Sleep(time.Until(exp0.Add(-300 * time.Millisecond)))
	stop()
	if invalid.Load() {
		t.Fatal("the seat was invalid during the outage, before its lease expired")
	}
	// Retry-After: 1 means about one try a second, not the 50 ms backoff.
	if n := f.failures("/v1/heartbeat"); n > 3 {
		t.Fatalf("%d heartbeats during a ~2 s outage with Retry-After: 1", n)
	}

	f.setFault("/v1/heartbeat", nil)
	eventually(t, 4*time.Second, "recovery", func() bool {
		st := seat.Status()
		return st.Valid && st.LastError == nil && st.ExpiresAt.After(exp0)
	})
}

func TestLongOutageExpiresTheLeaseThenRecovers(t *testing.T) {
	t.Parallel()
	for name, ft := range map[string]fault{
		"network": {status: dropConnection},
		"503":     {status: http.StatusServiceUnavailable, code: "unavailable"},
		"500":     {status: http.StatusInternalServerError, code: "internal"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			f.set(func(f *fakeAPI) { f.ttl = 2 * time.Second })
			seat := acquire(t, f.config())

			// Record every Valid transition through Changed.
			var mu sync.Mutex
			var seen []bool
			watchDone := make(chan struct{})
			go func() {
				defer close(watchDone)
				for {
					ch := seat.Changed()
					v := seat.Valid()
					mu.Lock()
					if len(seen) == 0 || seen[len(seen)-1] != v {
						seen = append(seen, v)
					}
					mu.Unlock()
					select {
					case <-ch:
					case <-seat.Done():
						return
					}
				}
			}()

			ft2 := ft
			f.setFault("/v1/heartbeat", &ft2)
			ft3 := ft
			f.setFault("/v1/acquire", &ft3)
			eventually(t, 5*time.Second, "the lease to expire", func() bool { return !seat.Valid() })
			if seat.Status().LastError == nil {
				t.Fatal("no LastError during an outage")
			}
			select {
			case <-seat.Done():
				t.Fatal("an outage closed Done")
			default:
			}
			// It keeps asking: a heartbeat first (the license may revive
			// the session), then, on its 404, an acquire.
			n := f.count("/v1/heartbeat")
			eventually(t, 5*time.Second, "heartbeat attempts once the lease expired", func() bool { return f.count("/v1/heartbeat") > n+1 })

			f.setFault("/v1/heartbeat", nil)
			f.setFault("/v1/acquire", nil)
			eventually(t, 5*time.Second, "the seat back", func() bool { return seat.Valid() && seat.Status().LastError == nil })
			eventually(t, time.Second, "Changed to announce it", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) >= 3
			})
			seat.Close(context.Background())
			<-watchDone
			mu.Lock()
			defer mu.Unlock()
			if !seen[0] || seen[1] || !seen[2] {
				t.Fatalf("Valid went %v, want true, false, true, …", seen)
			}
		})
	}
}

func TestSeatLostForGood(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		spoil func(f *fakeAPI)
		want  error
		code  string
	}{
		{"license suspended: heartbeat 403", func(f *fakeAPI) { f.set(func(f *fakeAPI) { f.inactive = true }) },
			license.ErrLicenseInactive, "license_inactive"},
		{"workstation blocked: re-acquire 403", func(f *fakeAPI) {
			f.set(func(f *fakeAPI) { f.blocked = true })
			f.dropSessions()
		}, license.ErrWorkstationBlocked, "workstation_blocked"},
		{"session revoked: heartbeat 403", func(f *fakeAPI) { f.set(func(f *fakeAPI) { f.revoked = true }) },
			license.ErrSessionRevoked, "session_revoked"},
		{"workstation blocked: heartbeat 403", func(f *fakeAPI) { f.set(func(f *fakeAPI) { f.hbBlocked = true }) },
			license.ErrWorkstationBlocked, "workstation_blocked"},
		{"license deleted: re-acquire 404", func(f *fakeAPI) {
			f.set(func(f *fakeAPI) { f.deleted = true })
			f.dropSessions()
		}, license.ErrLicenseNotFound, "license_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			seat := acquire(t, f.config())
			tc.spoil(f)
			select {
			case <-seat.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("Done not closed")
			}
			err := seat.Err()
			var ae *license.APIError
			if !errors.Is(err, tc.want) || !errors.As(err, &ae) || ae.Code != tc.code {
				t.Fatalf("Err = %v, want %v", err, tc.want)
			}
			if seat.Valid() {
				t.Fatal("a lost seat is valid")
			}
			if st := seat.Status(); !st.Over || st.Valid {
				t.Fatalf("status %+v", st)
			}
			if err := seat.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if f.releases() != 0 {
				t.Fatal("Close released a lost seat")
			}
			if !errors.Is(seat.Err(), tc.want) {
				t.Fatalf("Close changed Err to %v", seat.Err())
			}
		})
	}
}

func TestAcquireFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		setup   func(f *fakeAPI, cfg *license.Config)
		want    error
		notWant error
		status  int
	}{
		{"wrong key", func(f *fakeAPI, cfg *license.Config) {
			cfg.LicenseKey = "lk_" + strings.ReplaceAll(f.licenseID, "-", "") + "_wrong"
		}, license.ErrLicenseNotFound, nil, 404},
		{"license inactive", func(f *fakeAPI, _ *license.Config) { f.inactive = true }, license.ErrLicenseInactive, nil, 403},
		{"workstation blocked", func(f *fakeAPI, _ *license.Config) { f.blocked = true }, license.ErrWorkstationBlocked, nil, 403},
		{"no seats", func(f *fakeAPI, _ *license.Config) { f.seats = 0 }, license.ErrNoSeats, license.ErrUserSeatLimit, 409},
		{"user seat limit", func(f *fakeAPI, _ *license.Config) {
			f.faults["/v1/acquire"] = &fault{status: 409, code: "user_seat_limit"}
		}, license.ErrUserSeatLimit, nil, 409},
		{"user required", func(f *fakeAPI, _ *license.Config) { f.credential = testCredential }, license.ErrUserRequired, nil, 401},
		{"forbidden", func(f *fakeAPI, _ *license.Config) {
			f.faults["/v1/acquire"] = &fault{status: 403, code: "forbidden"}
		}, license.ErrForbidden, license.ErrLicenseInactive, 403},
		{"internal error", func(f *fakeAPI, _ *license.Config) {
			f.faults["/v1/acquire"] = &fault{status: 500, code: "internal"}
		}, nil, license.ErrUnavailable, 500},
		{"network error", func(f *fakeAPI, _ *license.Config) {
			f.faults["/v1/acquire"] = &fault{status: dropConnection}
		}, nil, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			cfg := f.config()
			f.set(func(f *fakeAPI) { tc.setup(f, &cfg) })
			start := time.Now()
			seat, err := license.Acquire(context.Background(), cfg)
			if err == nil {
				seat.Close(context.Background())
				t.Fatal("Acquire succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) || tc.notWant != nil && errors.Is(err, tc.notWant) {
				t.Fatalf("Acquire = %v, want %v and not %v", err, tc.want, tc.notWant)
			}
			var ae *license.APIError
			if tc.status != 0 && (!errors.As(err, &ae) || ae.Status != tc.status) {
				t.Fatalf("Acquire = %#v, want an *APIError with status %d", err, tc.status)
			}
			if tc.status == 0 && errors.As(err, &ae) {
				t.Fatalf("a network error came back as %v", ae)
			}
			if n := f.count("/v1/acquire"); n != 1 || time.Since(start) > time.Second {
				t.Fatalf("%d acquires in %v: the first failure is returned at once", n, time.Since(start))
			}
		})
	}
}

func TestAcquireRetriesWhenAskedToWait(t *testing.T) {
	t.Parallel()
	for name, ft := range map[string]fault{
		"503 Retry-After": {status: 503, code: "unavailable", retryAfter: 1, left: 2},
		"429 Retry-After": {status: 429, code: "rate_limited", retryAfter: 1, left: 1},
		"503 no header":   {status: 503, code: "unavailable", left: 3},
		"502 proxy":       {status: 502, left: 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFake(t)
			fails, retryAfter := ft.left, ft.retryAfter
			f.setFault("/v1/acquire", &ft) // the fake counts ft.left down
			start := time.Now()
			seat := acquire(t, f.config())
			if !seat.Valid() {
				t.Fatal("not valid")
			}
			if want := fails + 1; f.count("/v1/acquire") != want {
				t.Fatalf("%d acquires, want %d", f.count("/v1/acquire"), want)
			}
			if min := time.Duration(retryAfter*fails) * time.Second; time.Since(start) < min {
				t.Fatalf("took %v: Retry-After not honoured", time.Since(start))
			}
		})
	}
}

func TestWaitForSeat(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.set(func(f *fakeAPI) { f.seats = 1 })
	other := f.occupy(time.Minute)
	cfg := f.config()
	cfg.WaitForSeat = true

	// Without a seat freeing up, Acquire gives up when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := license.Acquire(ctx, cfg); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, license.ErrNoSeats) {
		t.Fatalf("Acquire = %v, want DeadlineExceeded and ErrNoSeats", err)
	}

	n := f.count("/v1/acquire")
	go func() {
		time.Sleep(500 * time.Millisecond)
		f.set(func(f *fakeAPI) { delete(f.sessions, other) })
	}()
	seat := acquire(t, cfg)
	if !seat.Valid() || f.count("/v1/acquire")-n < 2 {
		t.Fatalf("valid %v after %d acquires", seat.Valid(), f.count("/v1/acquire")-n)
	}
}

func TestCredential(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.set(func(f *fakeAPI) { f.credential = testCredential })

	cfg := f.config()
	cfg.Credential = testCredential
	seat := acquire(t, cfg)
	seat.Close(context.Background())

	var calls atomic.Int32
	cfg = f.config()
	cfg.CredentialFunc = func(context.Context) (string, error) {
		calls.Add(1)
		return testCredential, nil
	}
	seat = acquire(t, cfg)
	sid := seat.Status().SessionID
	f.dropSessions()
	eventually(t, 5*time.Second, "re-acquired", func() bool { return seat.Status().SessionID != sid && seat.Valid() })
	if calls.Load() != 2 {
		t.Fatalf("CredentialFunc called %d times, want 2 (once per acquire)", calls.Load())
	}

	cfg.CredentialFunc = func(context.Context) (string, error) { return "", errors.New("no token") }
	if _, err := license.Acquire(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Fatalf("Acquire = %v", err)
	}
}

func TestCloseReleasesOnceAndIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	seat := acquire(t, f.config())
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() { errs <- seat.Close(context.Background()) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if err := seat.Close(context.Background()); err != nil {
		t.Fatalf("Close again: %v", err)
	}
	if n := f.releases(); n != 1 || f.count("/v1/release") != 1 {
		t.Fatalf("%d releases (%d calls), want 1", n, f.count("/v1/release"))
	}
	<-seat.Done()
	if seat.Err() != nil || seat.Valid() {
		t.Fatal("closed seat reports an error or is valid")
	}
}

func TestCloseReportsAFailedRelease(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	seat := acquire(t, f.config())
	f.setFault("/v1/release", &fault{status: 503, code: "unavailable"})
	if err := seat.Close(context.Background()); !errors.Is(err, license.ErrUnavailable) {
		t.Fatalf("Close = %v", err)
	}
	<-seat.Done()
	if seat.Err() != nil || seat.Valid() {
		t.Fatal("a closed seat is valid or reports why it was lost")
	}

	// A context that has ended bounds the release.
	seat = acquire(t, f.config())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := seat.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v", err)
	}
	<-seat.Done()
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.set(func(f *fakeAPI) { f.ttl = 2 * time.Second })
	seat := acquire(t, f.config())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-seat.Changed():
				case <-time.After(time.Millisecond):
				}
				tok, c := seat.Lease()
				if tok != "" && c.SessionDigest == "" {
					t.Error("a lease without claims")
				}
				seat.Valid()
				seat.Status()
				seat.Err()
			}
		})
	}
	time.Sleep(1200 * time.Millisecond)
	_, first := seat.Lease()
	f.dropSessions() // a re-acquire while readers run
	// Wait until the seat holds its new session, not a fixed time (on a
	// loaded machine the heartbeat that finds the session gone can come
	// late) and not the acquire's arrival at the server: closing while
	// that acquire is in flight would release the old, dropped session.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, c := seat.Lease(); c.SessionDigest != "" && c.SessionDigest != first.SessionDigest {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no re-acquire after the session was dropped (%d heartbeats, %d acquires)",
				f.count("/v1/heartbeat"), f.count("/v1/acquire"))
		}
	}
	var closers sync.WaitGroup
	for range 4 {
		closers.Go(func() { seat.Close(context.Background()) })
	}
	closers.Wait()
	close(stop)
	wg.Wait()
	if f.count("/v1/heartbeat") == 0 || f.releases() != 1 {
		t.Fatalf("%d heartbeats, %d releases", f.count("/v1/heartbeat"), f.releases())
	}
}

func TestParseRootKeys(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	keys, err := license.ParseRootKeys(f.keysDoc(t))
	if err != nil {
		t.Fatal(err)
	}
	pinned, _ := roots()
	if len(keys) != 1 || !keys[pinned.kid].Equal(&pinned.key.PublicKey) {
		t.Fatalf("keys = %v", keys)
	}
	cfg := f.config()
	cfg.RootKeys = keys
	acquire(t, cfg)

	for name, doc := range map[string]string{
		"not JSON": "nope", "no keys": `{"keys":[]}`, "EC key": `{"keys":[{"kty":"EC","kid":"a","crv":"P-256"}]}`,
		"no kid": `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, "weak key": `{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`,
	} {
		if _, err := license.ParseRootKeys([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	for name, spoil := range map[string]func(*license.Config){
		"no root keys":     func(c *license.Config) { c.RootKeys = nil },
		"nil root key":     func(c *license.Config) { c.RootKeys = map[string]*rsa.PublicKey{"a": nil} },
		"no base URL":      func(c *license.Config) { c.BaseURL = "" },
		"not http":         func(c *license.Config) { c.BaseURL = "ftp://example.com" },
		"no license key":   func(c *license.Config) { c.LicenseKey = "" },
		"not a key":        func(c *license.Config) { c.LicenseKey = "ak_0123" },
		"upper-case hex":   func(c *license.Config) { c.LicenseKey = strings.ToUpper(c.LicenseKey) },
		"key without tail": func(c *license.Config) { c.LicenseKey = c.LicenseKey[:36] },
	} {
		cfg := f.config()
		spoil(&cfg)
		if _, err := license.Acquire(context.Background(), cfg); err == nil {
			t.Errorf("%s: Acquire succeeded", name)
		}
	}
	if n := f.count("/v1/acquire"); n != 0 {
		t.Fatalf("%d calls with a bad Config", n)
	}
}

// TestPlainHTTPOnlyToThisMachine: http:// is accepted for loopback (the
// fake listens on 127.0.0.1; "localhost" names it too), and a redirect from
// the service to an http:// address elsewhere is not followed, so the
// license key is never sent there.
func TestPlainHTTPOnlyToThisMachine(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	cfg := f.config()
	cfg.BaseURL = strings.Replace(f.srv.URL, "127.0.0.1", "localhost", 1)
	seat, err := license.Acquire(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Acquire over http://localhost: %v", err)
	}
	if err := seat.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}

	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://licenses.example.com"+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)
	var elsewhere atomic.Int32
	loopbackOnly := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Hostname() != "127.0.0.1" {
			elsewhere.Add(1)
			return nil, errors.New("the test network reaches only loopback")
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	for _, base := range []string{redirecting.URL, "http://api.coditect.ai", "http://10.0.0.7:8080",
		"http://localhost.example.com", "http://0.0.0.0:8080"} {
		cfg = f.config()
		cfg.BaseURL, cfg.HTTPClient = base, loopbackOnly
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := license.Acquire(ctx, cfg)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "use https://") {
			t.Errorf("Acquire at %s: %v, want a refusal asking for https://", base, err)
		}
	}
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the SDK sent %d requests over http:// to hosts that are not this machine", n)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestLicenseID(t *testing.T) {
	t.Parallel()
	id, err := license.LicenseID("lk_0b6f7c3e2d4a4f7e9a513c2b1d0e9f88_c2VjcmV0")
	if err != nil || id != "0b6f7c3e-2d4a-4f7e-9a51-3c2b1d0e9f88" {
		t.Fatalf("LicenseID = %q, %v", id, err)
	}
}

func TestDefaultFingerprint(t *testing.T) {
	t.Parallel()
	a, err := license.DefaultFingerprint()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := license.DefaultFingerprint()
	if a != b || !strings.HasPrefix(a, "fp1:") || len(a) != 4+64 || strings.Trim(a[4:], "0123456789abcdef") != "" {
		t.Fatalf("fingerprints %q, %q", a, b)
	}
}

// TestEachSeatIsItsOwnHolder: every Acquire names a fresh instance, in the
// server's instance_id alphabet, so two Seats on one workstation are two
// holders of its seat; Config.InstanceID names one on purpose.
func TestEachSeatIsItsOwnHolder(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	instance := func() string {
		var id string
		f.set(func(f *fakeAPI) { id = f.lastAcquire["instance_id"] })
		return id
	}
	acquire(t, f.config())
	first := instance()
	acquire(t, f.config())
	second := instance()
	valid := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`)
	if !valid.MatchString(first) || !valid.MatchString(second) || first == second {
		t.Fatalf("instance ids %q and %q: want two different valid ids", first, second)
	}
	cfg := f.config()
	cfg.InstanceID = "tool-1"
	acquire(t, cfg)
	if got := instance(); got != "tool-1" {
		t.Fatalf("instance id = %q, want Config.InstanceID", got)
	}
}

// TestOverageStatus: Status.Overage follows the signed lease: set while the
// server grants the seat as overage, cleared by the first renewal after the
// seat is reclassified entitled.
func TestOverageStatus(t *testing.T) {
	t.Parallel()
	f := newFake(t)
	f.set(func(f *fakeAPI) { f.overage = true })
	seat := acquire(t, f.config())
	if st := seat.Status(); !st.Valid || !st.Overage {
		t.Fatalf("status of a seat granted as overage = %+v", st)
	}
	if _, c := seat.Lease(); !c.Overage {
		t.Fatalf("lease claims %+v, want overage", c)
	}
	f.set(func(f *fakeAPI) { f.overage = false })
	n := f.count("/v1/heartbeat")
	eventually(t, 5*time.Second, "a renewal after the reclassification", func() bool { return f.count("/v1/heartbeat") > n })
	eventually(t, 5*time.Second, "Status.Overage cleared", func() bool { return !seat.Status().Overage })
	if st := seat.Status(); !st.Valid {
		t.Fatalf("status after the reclassification = %+v", st)
	}
	if err := seat.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := seat.Status(); st.Overage {
		t.Fatalf("a closed seat's status = %+v", st)
	}
}
