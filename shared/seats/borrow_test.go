package seats_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/seats"
)

// TestBorrow: offline checkout on every backend: the policy, a borrowed
// seat outliving its lease, extension, the refusals, the early return with
// its single-use proofs, and revocation.
func TestBorrow(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			for _, c := range borrowContract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newFixture(t, rdb, prefix, engineOptions(name)...))
				})
			}
		})
	}
}

func borrowing(p seats.BorrowPolicy) func(*seats.License) {
	return func(l *seats.License) { l.Borrow = &p }
}

// A device key as the HTTP layer would pass it (canonical JWK JSON).
const (
	deviceA = `{"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	deviceB = `{"crv":"Ed25519","kty":"OKP","x":"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08"}`
)

func (f *fixture) borrow(g seats.Grant, until time.Time, device string) (seats.Borrow, error) {
	return f.engine.Borrow(context.Background(), seats.BorrowRequest{SessionID: g.SessionID, Until: until, DeviceKey: device})
}

func (f *fixture) mustBorrow(g seats.Grant, until time.Time, device string) seats.Borrow {
	f.t.Helper()
	b, err := f.borrow(g, until, device)
	if err != nil {
		f.t.Fatalf("borrow %s: %v", g.Fingerprint, err)
	}
	return b
}

func (f *fixture) giveBack(g seats.Grant, device, proof string) error {
	return f.engine.Return(context.Background(), g.SessionID, device, proof, time.Now().Add(time.Minute))
}

func (f *fixture) revokedBorrows(l seats.License) []string {
	f.t.Helper()
	d, err := f.engine.RevokedBorrows(context.Background(), l.ID, f.key(l))
	if err != nil {
		f.t.Fatalf("RevokedBorrows: %v", err)
	}
	return d
}

var week = seats.BorrowPolicy{MaxSeconds: seats.BorrowDefaultSeconds}

var borrowContract = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"borrowing off", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute)
		a := f.mustAcquire(l, "a")
		if _, err := f.borrow(a, time.Now().Add(time.Hour), deviceA); !errors.Is(err, seats.ErrBorrowNotAllowed) {
			t.Fatalf("borrow without a policy: %v, want not allowed", err)
		}
		// Turned off after a borrow: the borrowed seat keeps its end, new
		// borrows are refused.
		l2, _ := f.license(2, time.Minute, borrowing(week))
		b := f.mustAcquire(l2, "b")
		c := f.mustAcquire(l2, "c")
		f.mustBorrow(b, time.Now().Add(time.Hour), deviceA)
		l2.Borrow, l2.Revision = nil, 2
		f.put(l2)
		if _, err := f.borrow(c, time.Now().Add(time.Hour), deviceA); !errors.Is(err, seats.ErrBorrowNotAllowed) {
			t.Fatalf("borrow once the policy is off: %v, want not allowed", err)
		}
		if _, err := f.heartbeat(b); !errors.Is(err, seats.ErrSessionBorrowed) {
			t.Fatalf("heartbeat of the borrowed seat: %v, want borrowed", err)
		}
		if _, err := f.borrow(seats.Grant{SessionID: "nonsense"}, time.Now().Add(time.Hour), deviceA); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("borrow of a malformed id: %v, want not found", err)
		}
	}},
	{"seconds from now, on the Redis clock", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, borrowing(seats.BorrowPolicy{MaxSeconds: seats.BorrowMinSeconds}))
		a := f.mustAcquire(l, "a")
		ask := func(secs int64) (seats.Borrow, error) {
			return f.engine.Borrow(context.Background(), seats.BorrowRequest{SessionID: a.SessionID, Seconds: secs, DeviceKey: deviceA})
		}
		if _, err := ask(seats.BorrowMinSeconds + 1); !errors.As(err, new(*seats.BorrowTooLongError)) {
			t.Fatalf("one second past max_seconds: %v, want too long", err)
		}
		if _, err := ask(-1); !errors.Is(err, seats.ErrInvalidBorrowEnd) {
			t.Fatalf("negative seconds: %v, want an invalid end", err)
		}
		// Exactly max_seconds is taken whatever this machine's clock says
		// (the Until form would be judged against it).
		before := time.Now()
		b, err := ask(seats.BorrowMinSeconds)
		if err != nil {
			t.Fatal(err)
		}
		want := before.Add(seats.BorrowMinSeconds * time.Second)
		if b.ExpiresAt.Nanosecond() != 0 || b.ExpiresAt.Before(want.Add(-2*time.Second)) || b.ExpiresAt.After(want.Add(2*time.Second)) {
			t.Fatalf("borrowed until %v, want whole seconds about %v", b.ExpiresAt, want)
		}
	}},
	{"a borrowed seat counts past its lease until its end, then frees", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Second, borrowing(week))
		a := f.mustAcquire(l, "a")
		f.mustAcquire(l, "b")
		end := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
		b := f.mustBorrow(a, end, deviceA)
		if !b.ExpiresAt.Equal(end) || b.Extended || b.SessionDigest != a.SessionDigest || b.Fingerprint != "a" ||
			b.TenantID != l.TenantID || b.SeatClass != seats.SeatEntitled {
			t.Fatalf("borrow = %+v, want until %v", b, end)
		}
		if key, err := f.engine.BorrowedBy(context.Background(), a.SessionID); err != nil || key != deviceA {
			t.Fatalf("BorrowedBy = %q, %v", key, err)
		}
		// Past the ordinary lease, with sweeps: b lapses, a stays.
		time.Sleep(1500 * time.Millisecond)
		if res := f.sweep(l); res.Expired != 1 {
			t.Fatalf("sweep past the lease = %+v, want only the unborrowed session dropped", res)
		}
		c := f.mustAcquire(l, "c")
		if _, err := f.acquire(l, "d"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("a third session while the borrow runs: %v, want no seats", err)
		}
		list, err := f.engine.Sessions(context.Background(), l.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(list, func(s seats.Session) bool { return s.SessionDigest == a.SessionDigest })
		if i < 0 || !list[i].Borrowed || !list[i].ExpiresAt.Equal(end) || len(list[i].Holders) != 0 {
			t.Fatalf("sessions = %+v, want %s borrowed until %v", list, a.SessionDigest, end)
		}
		// c is held (heartbeats within its 1 s lease): only the borrow's
		// end may free a seat.
		for time.Until(end) > 300*time.Millisecond {
			if _, err := f.heartbeat(c); err != nil {
				t.Fatalf("heartbeat of c: %v", err)
			}
			time.Sleep(min(400*time.Millisecond, time.Until(end)-300*time.Millisecond))
		}
		if _, err := f.heartbeat(c); err != nil {
			t.Fatalf("heartbeat of c: %v", err)
		}
		f.sweep(l)
		if _, err := f.acquire(l, "d"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("just before the borrow's end: %v, want no seats", err)
		}
		sleepUntil(end.Add(50 * time.Millisecond))
		if _, err := f.engine.BorrowedBy(context.Background(), a.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("BorrowedBy after the end: %v, want not found", err)
		}
		f.sweep(l)
		f.mustAcquire(l, "d")
		exp := f.ledgerOf(l, seats.EventExpired)
		i = slices.IndexFunc(exp, func(ev seats.Event) bool { return ev.SessionRef == a.SessionDigest })
		if i < 0 || !exp[i].At.Equal(end) {
			t.Fatalf("expired events = %+v, want %s at %v", exp, a.SessionDigest, end)
		}
		bor := f.ledgerOf(l, seats.EventBorrowed)
		if len(bor) != 1 || bor[0].SessionRef != a.SessionDigest || !bor[0].BorrowedUntil.Equal(end) {
			t.Fatalf("borrowed events = %+v", bor)
		}
	}},
	{"extension moves the end forward only, within max_seconds", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, borrowing(seats.BorrowPolicy{MaxSeconds: 3600}))
		a := f.mustAcquire(l, "a")
		first := f.mustBorrow(a, time.Now().Add(30*time.Minute), deviceA)
		later := f.mustBorrow(a, time.Now().Add(50*time.Minute), deviceA)
		if !later.Extended || !later.ExpiresAt.After(first.ExpiresAt) {
			t.Fatalf("extension = %+v after %v", later, first.ExpiresAt)
		}
		back := f.mustBorrow(a, time.Now().Add(10*time.Minute), deviceA)
		if !back.Extended || !back.ExpiresAt.Equal(later.ExpiresAt) {
			t.Fatalf("an earlier end = %+v, want the end kept at %v", back, later.ExpiresAt)
		}
		var long *seats.BorrowTooLongError
		if _, err := f.borrow(a, time.Now().Add(61*time.Minute), deviceA); !errors.As(err, &long) || long.MaxSeconds != 3600 {
			t.Fatalf("past max_seconds: %v, want too long (3600)", err)
		}
		if _, err := f.borrow(a, time.Now().Add(-time.Second), deviceA); !errors.Is(err, seats.ErrInvalidBorrowEnd) {
			t.Fatalf("an end in the past: %v, want invalid end", err)
		}
		if _, err := f.borrow(a, time.Now().Add(time.Hour), deviceB); !errors.Is(err, seats.ErrOtherDevice) {
			t.Fatalf("another device: %v, want other device", err)
		}
		if n := len(f.ledgerOf(l, seats.EventBorrowExtended)); n != 1 {
			t.Fatalf("borrow_extended events = %d, want 1 (the end moved once)", n)
		}
		// A new borrow past max_seconds is refused too.
		b := f.mustAcquire(l, "b")
		if _, err := f.borrow(b, time.Now().Add(2*time.Hour), deviceA); !errors.As(err, &long) {
			t.Fatalf("new borrow past max_seconds: %v", err)
		}
		// Capped at the license's expiry.
		l2, _ := f.license(1, time.Minute, borrowing(week), func(l *seats.License) {
			l.ExpiresAt = time.Now().Add(20 * time.Minute).Truncate(time.Second)
		})
		c := f.mustAcquire(l2, "c")
		if got := f.mustBorrow(c, time.Now().Add(time.Hour), deviceA); !got.ExpiresAt.Equal(l2.ExpiresAt) {
			t.Fatalf("borrow past the license's expiry ends %v, want %v", got.ExpiresAt, l2.ExpiresAt)
		}
	}},
	{"heartbeat, release and a resume are refused; a live session is not found when gone", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, borrowing(week))
		a := f.mustAcquire(l, "a")
		f.mustBorrow(a, time.Now().Add(time.Hour), deviceA)
		if _, err := f.heartbeat(a); !errors.Is(err, seats.ErrSessionBorrowed) {
			t.Fatalf("heartbeat: %v", err)
		}
		if _, err := f.engine.ReleaseHolder(context.Background(), a.SessionID, ""); !errors.Is(err, seats.ErrSessionBorrowed) {
			t.Fatalf("release: %v", err)
		}
		if _, err := f.acquire(l, "a"); !errors.Is(err, seats.ErrSessionBorrowed) {
			t.Fatalf("acquire by the same fingerprint: %v", err)
		}
		if n := f.count(l); n != 1 {
			t.Fatalf("count = %d, want 1", n)
		}
		b := f.mustAcquire(l, "b")
		f.releaseAs(b, "")
		if _, err := f.borrow(b, time.Now().Add(time.Hour), deviceA); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("borrow of a released session: %v, want not found", err)
		}
		if _, err := f.engine.BorrowedBy(context.Background(), b.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("BorrowedBy of a released session: %v", err)
		}
	}},
	{"return frees at once; each proof once; wrong key and not borrowed refused", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, borrowing(week), lingering(600))
		a := f.mustAcquire(l, "a")
		if err := f.giveBack(a, deviceA, "p0"); !errors.Is(err, seats.ErrNotBorrowed) {
			t.Fatalf("return of a session not borrowed: %v", err)
		}
		if _, err := f.engine.BorrowedBy(context.Background(), a.SessionID); !errors.Is(err, seats.ErrNotBorrowed) {
			t.Fatalf("BorrowedBy of a session not borrowed: %v", err)
		}
		f.mustBorrow(a, time.Now().Add(time.Hour), deviceA)
		if err := f.giveBack(a, deviceB, "p1"); !errors.Is(err, seats.ErrOtherDevice) {
			t.Fatalf("return under another key: %v", err)
		}
		if err := f.giveBack(a, deviceA, "p1"); err != nil {
			t.Fatalf("return: %v (the refused one must not use the proof)", err)
		}
		// At once, although the license lingers.
		if n := f.count(l); n != 0 {
			t.Fatalf("count after the return = %d", n)
		}
		f.mustAcquire(l, "b")
		if err := f.giveBack(a, deviceA, "p1"); !errors.Is(err, seats.ErrProofUsed) {
			t.Fatalf("the same proof again, the session gone: %v, want proof used", err)
		}
		if err := f.giveBack(a, deviceA, "p2"); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("a new proof, the session gone: %v, want not found", err)
		}
		ret := f.ledgerOf(l, seats.EventReturned)
		if len(ret) != 1 || ret[0].SessionRef != a.SessionDigest {
			t.Fatalf("returned events = %+v", ret)
		}
		// The same proof id on a second borrowed session.
		c, _ := f.license(1, time.Minute, borrowing(week))
		g := f.mustAcquire(c, "g")
		f.mustBorrow(g, time.Now().Add(time.Hour), deviceA)
		if err := f.giveBack(g, deviceA, "q"); err != nil {
			t.Fatal(err)
		}
		g2 := f.mustAcquire(c, "g")
		f.mustBorrow(g2, time.Now().Add(time.Hour), deviceA)
		if err := f.giveBack(g2, deviceA, "q"); !errors.Is(err, seats.ErrProofUsed) {
			t.Fatalf("a proof id used before: %v, want proof used", err)
		}
	}},
	{"revoke keeps a borrowed seat counted and lists it until its end", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, borrowing(week))
		a := f.mustAcquire(l, "a")
		b := f.mustAcquire(l, "b")
		end := time.Now().Add(2 * time.Second).Truncate(time.Second).Add(time.Second)
		f.mustBorrow(a, end, deviceA)
		if err := f.engine.Revoke(context.Background(), l.ID, a.SessionDigest, "user:ops"); err != nil {
			t.Fatalf("revoke: %v", err)
		}
		if n := f.count(l); n != 2 {
			t.Fatalf("count after the revoke = %d, want 2 (the borrow runs offline)", n)
		}
		if got := f.revokedBorrows(l); !slices.Equal(got, []string{a.SessionDigest}) {
			t.Fatalf("revoked borrows = %v", got)
		}
		if _, err := f.engine.RevokedBorrows(context.Background(), l.ID, "wrong-key"); !errors.Is(err, seats.ErrLicenseNotFound) {
			t.Fatalf("revoked borrows with a wrong key: %v", err)
		}
		other, _ := f.license(1, time.Minute)
		if _, err := f.engine.RevokedBorrows(context.Background(), l.ID, f.key(other)); !errors.Is(err, seats.ErrLicenseNotFound) {
			t.Fatalf("revoked borrows with another license's key: %v", err)
		}
		if _, err := f.borrow(a, end.Add(time.Hour), deviceA); !errors.Is(err, seats.ErrSessionRevoked) {
			t.Fatalf("extending a revoked borrow: %v", err)
		}
		if n := len(f.ledgerOf(l, seats.EventRevoked)); n != 0 {
			t.Fatalf("revoked events = %d, want none yet", n)
		}
		// RevokeAll: the plain session ends, the borrowed one stays.
		if n, err := f.engine.RevokeAll(context.Background(), l.ID, "user:ops"); err != nil || n != 2 {
			t.Fatalf("revoke all = %d, %v", n, err)
		}
		if _, err := f.heartbeat(b); !errors.Is(err, seats.ErrSessionRevoked) {
			t.Fatalf("heartbeat of the revoked plain session: %v", err)
		}
		if n := f.count(l); n != 1 {
			t.Fatalf("count = %d, want the borrowed seat alone", n)
		}
		sleepUntil(end.Add(50 * time.Millisecond))
		if got := f.revokedBorrows(l); len(got) != 0 {
			t.Fatalf("revoked borrows after the end = %v", got)
		}
		f.sweep(l)
		exp := f.ledgerOf(l, seats.EventExpired)
		if len(exp) != 1 || exp[0].SessionRef != a.SessionDigest || !exp[0].At.Equal(end) {
			t.Fatalf("expired events = %+v, want the borrow's at its end", exp)
		}
	}},
	{"a revoked borrow that is returned leaves the list", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, borrowing(week))
		a := f.mustAcquire(l, "a")
		f.mustBorrow(a, time.Now().Add(time.Hour), deviceA)
		if err := f.engine.Revoke(context.Background(), l.ID, a.SessionDigest, ""); err != nil {
			t.Fatal(err)
		}
		if err := f.giveBack(a, deviceA, "p"); err != nil {
			t.Fatal(err)
		}
		if got := f.revokedBorrows(l); len(got) != 0 || f.count(l) != 0 {
			t.Fatalf("after the return: list %v, count %d", got, f.count(l))
		}
	}},
	{"a returned entitled seat promotes the oldest overage session", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, borrowing(week), overage(seats.OverageAbsolute, 2))
		a := f.mustAcquire(l, "a")
		b := f.mustAcquire(l, "b")
		c := f.mustAcquire(l, "c")
		if b.SeatClass != seats.SeatOverage || c.SeatClass != seats.SeatOverage {
			t.Fatalf("classes %s %s", b.SeatClass, c.SeatClass)
		}
		if got := f.mustBorrow(a, time.Now().Add(time.Hour), deviceA); got.SeatClass != seats.SeatEntitled {
			t.Fatalf("borrowed seat class %s", got.SeatClass)
		}
		if err := f.giveBack(a, deviceA, "p"); err != nil {
			t.Fatal(err)
		}
		f.wantClasses(map[string]string{"b": seats.SeatEntitled, "c": seats.SeatOverage}, b, c)
		if got := refs(f.ledgerOf(l, seats.EventReclassified)); !slices.Equal(got, []string{b.SessionDigest}) {
			t.Fatalf("reclassified = %v", got)
		}
	}},
}

// TestBorrowLimitsUnderRaces: 200 borrows at once, of 200 live sessions on
// a license of 200 seats; exactly the policy's allowance succeed.
func TestBorrowLimitsUnderRaces(t *testing.T) {
	t.Parallel()
	policies := []struct {
		p    seats.BorrowPolicy
		want int
	}{
		{seats.BorrowPolicy{MaxSeconds: 3600, MaxConcurrent: 7}, 7},
		{seats.BorrowPolicy{MaxSeconds: 3600, MinOnlineSeats: 190}, 10},
		{seats.BorrowPolicy{MaxSeconds: 3600, MaxConcurrent: 20, MinOnlineSeats: 185}, 15},
		{seats.BorrowPolicy{MaxSeconds: 3600}, 200},
	}
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			f := newFixture(t, rdb, prefix, engineOptions(name)...)
			for _, pc := range policies {
				l, _ := f.license(200, time.Minute, borrowing(pc.p))
				grants := make([]seats.Grant, 200)
				for i := range grants {
					grants[i] = f.mustAcquire(l, fmt.Sprint("ws-", i))
				}
				var ok, limited atomic.Int64
				var wg sync.WaitGroup
				for _, g := range grants {
					wg.Go(func() {
						_, err := f.borrow(g, time.Now().Add(30*time.Minute), deviceA)
						var lim *seats.BorrowLimitError
						switch {
						case err == nil:
							ok.Add(1)
						case errors.As(err, &lim) && errors.Is(err, seats.ErrBorrowLimit):
							limited.Add(1)
						default:
							t.Errorf("borrow: %v", err)
						}
					})
				}
				wg.Wait()
				if ok.Load() != int64(pc.want) || limited.Load() != int64(200-pc.want) {
					t.Fatalf("%+v: %d borrowed, %d refused; want %d", pc.p, ok.Load(), limited.Load(), pc.want)
				}
				if n := len(f.ledgerOf(l, seats.EventBorrowed)); n != pc.want {
					t.Fatalf("%+v: %d borrowed events", pc.p, n)
				}
			}
		})
	}
}
