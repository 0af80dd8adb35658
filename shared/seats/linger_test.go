package seats_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/seats"
)

// TestLingerAndRevive: the linger and revive policies, on every backend.
func TestLingerAndRevive(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			for _, c := range lingerReviveContract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newFixture(t, rdb, prefix, engineOptions(name)...))
				})
			}
		})
	}
}

func lingering(s int) func(*seats.License) { return func(l *seats.License) { l.LingerSeconds = s } }
func reviving(s int) func(*seats.License)  { return func(l *seats.License) { l.ReviveSeconds = s } }

func (f *fixture) sweep(l seats.License) seats.SweepResult {
	f.t.Helper()
	res, err := f.engine.Sweep(context.Background(), []string{l.ID}, 100)
	if err != nil || len(res) != 1 {
		f.t.Fatalf("sweep = %v, %v", res, err)
	}
	return res[0]
}

func (f *fixture) heartbeat(g seats.Grant) (seats.Grant, error) {
	return f.engine.HeartbeatFrom(context.Background(), g.SessionID, g.Fingerprint)
}

// sleepUntil sleeps until t by this machine's clock, which the tests'
// Redis shares.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

var lingerReviveContract = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"a released seat counts until its linger ends, exactly, with no sweep", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, lingering(2))
		a := f.mustAcquire(l, "ws-a")
		before := time.Now()
		r, err := f.engine.ReleaseHolder(context.Background(), a.SessionID, "")
		if err != nil || !r.Released || r.SeatFreed {
			t.Fatalf("release = %+v, %v; want released, the seat kept", r, err)
		}
		if d := r.LingersUntil.Sub(before); d < 1900*time.Millisecond || d > 2100*time.Millisecond {
			t.Fatalf("lingers until %v, %v after the release; want 2 s", r.LingersUntil, d)
		}
		if n := f.count(l); n != 1 {
			t.Fatalf("count while lingering = %d, want 1", n)
		}
		if _, err := f.acquire(l, "ws-b"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("another workstation while the seat lingers: %v, want no seats", err)
		}
		if _, err := f.heartbeat(a); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat of a released, lingering session: %v, want not found", err)
		}
		if again, err := f.engine.ReleaseHolder(context.Background(), a.SessionID, ""); err != nil || again.Released {
			t.Fatalf("releasing it again = %+v, %v; want nothing released", again, err)
		}
		sleepUntil(r.LingersUntil.Add(-300 * time.Millisecond))
		if _, err := f.acquire(l, "ws-b"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("another workstation just before the linger ends: %v, want no seats", err)
		}
		sleepUntil(r.LingersUntil.Add(50 * time.Millisecond))
		// No sweep has run: the linger ends on the Redis clock.
		if g, err := f.acquire(l, "ws-b"); err != nil || g.SeatsUsed != 1 {
			t.Fatalf("another workstation once the linger ended: %+v, %v", g, err)
		}
		if res := f.sweep(l); res.Expired != 1 {
			t.Fatalf("sweep = %+v, want the lingering session dropped", res)
		}
		rel := f.ledgerOf(l, seats.EventReleased)
		if len(rel) != 1 || rel[0].Reason != seats.ReasonLinger || rel[0].SessionRef != a.SessionDigest {
			t.Fatalf("released events = %+v, want one into the linger", rel)
		}
		ended := f.ledgerOf(l, seats.EventLingerEnded)
		if len(ended) != 1 || ended[0].SessionRef != a.SessionDigest || !ended[0].At.Equal(r.LingersUntil) {
			t.Fatalf("linger_ended events = %+v, want one at %v", ended, r.LingersUntil)
		}
		if exp := f.ledgerOf(l, seats.EventExpired); len(exp) != 0 {
			t.Fatalf("expired events = %+v, want none (the seat was released)", exp)
		}
	}},
	{"the same workstation takes a lingering seat back, another does not", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, lingering(60))
		a := f.mustAcquire(l, "ws-a")
		if r, _ := f.engine.ReleaseHolder(context.Background(), a.SessionID, ""); r.LingersUntil.IsZero() {
			t.Fatalf("release = %+v, want it to linger", r)
		}
		if _, err := f.acquire(l, "ws-b"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("another workstation: %v, want no seats", err)
		}
		back := f.mustAcquire(l, "ws-a")
		if back.SessionID != a.SessionID || !back.Resumed || back.SeatsUsed != 1 {
			t.Fatalf("reacquire = %+v, want session %s resumed", back, a.SessionDigest)
		}
		if _, err := f.heartbeat(back); err != nil {
			t.Fatalf("heartbeat after the reattach: %v", err)
		}
		if n := len(f.ledgerOf(l, seats.EventReattached)); n != 1 {
			t.Fatalf("reattached events = %d, want 1", n)
		}
		// Held again, it lingers again when released.
		if r, _ := f.engine.ReleaseHolder(context.Background(), a.SessionID, ""); !r.Released || r.LingersUntil.IsZero() {
			t.Fatalf("second release = %+v, want it to linger again", r)
		}
		if n := len(f.ledgerOf(l, seats.EventAcquired)); n != 1 {
			t.Fatalf("acquired events = %d, want 1: the reattach is the same session", n)
		}
	}},
	{"under per-user leasing the same person takes it back from another workstation", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, lingering(60), func(l *seats.License) { l.PerUser = true })
		as := func(fp, user string) (seats.Grant, error) {
			return f.engine.Acquire(context.Background(), seats.AcquireRequest{
				LicenseID: l.ID, LicenseKey: f.key(l), Fingerprint: fp, User: user})
		}
		a, err := as("laptop", "ada")
		if err != nil {
			t.Fatal(err)
		}
		f.releaseAs(a, "")
		if _, err := as("desktop", "bob"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("another person: %v, want no seats", err)
		}
		back, err := as("desktop", "ada")
		if err != nil || back.SessionID != a.SessionID || !back.Resumed {
			t.Fatalf("the same person elsewhere = %+v, %v; want session %s resumed", back, err, a.SessionDigest)
		}
	}},
	{"a session that expires without a release does not linger", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second, lingering(60))
		a := f.mustAcquire(l, "ws-a")
		sleepUntil(a.ExpiresAt.Add(50 * time.Millisecond))
		if g, err := f.acquire(l, "ws-b"); err != nil || g.SeatsUsed != 1 {
			t.Fatalf("another workstation after the lease ran out: %+v, %v", g, err)
		}
		f.sweep(l)
		if exp := f.ledgerOf(l, seats.EventExpired); len(exp) != 1 || exp[0].SessionRef != a.SessionDigest {
			t.Fatalf("expired events = %+v, want ws-a's", exp)
		}
	}},
	{"a linger never outlasts the license", func(t *testing.T, f *fixture) {
		end := time.Now().Add(3 * time.Second).Truncate(time.Millisecond)
		l, _ := f.license(1, time.Minute, lingering(3600), func(l *seats.License) { l.ExpiresAt = end })
		a := f.mustAcquire(l, "ws-a")
		if r := f.releaseAs(a, ""); !r.LingersUntil.Equal(end) {
			t.Fatalf("lingers until %v, want the license's expiry %v", r.LingersUntil, end)
		}
	}},
	{"a shared seat lingers with its last holder only", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, lingering(60))
		a := f.mustAcquireAs(l, "ws", "proc-a")
		f.mustAcquireAs(l, "ws", "proc-b")
		if r := f.releaseAs(a, "proc-a"); !r.Released || r.SeatFreed || !r.LingersUntil.IsZero() {
			t.Fatalf("first holder's release = %+v, want its hold ended, no linger", r)
		}
		if r := f.releaseAs(a, "proc-b"); !r.Released || r.SeatFreed || r.LingersUntil.IsZero() {
			t.Fatalf("last holder's release = %+v, want the seat to linger", r)
		}
		back := f.mustAcquireAs(l, "ws", "proc-c")
		if back.SessionID != a.SessionID || !back.Resumed {
			t.Fatalf("a new process = %+v, want the lingering session back", back)
		}
		if got := f.holderIDs(l, a.SessionDigest); len(got) != 1 || got[0] != "proc-c" {
			t.Fatalf("holders = %v, want [proc-c]", got)
		}
	}},
	{"revoking a lingering seat frees it", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, lingering(60))
		a := f.mustAcquire(l, "ws-a")
		f.releaseAs(a, "")
		if err := f.engine.Revoke(context.Background(), l.ID, a.SessionDigest, "user:ops"); err != nil {
			t.Fatal(err)
		}
		if n := f.count(l); n != 0 {
			t.Fatalf("count = %d after the revoke, want 0", n)
		}
		f.mustAcquire(l, "ws-b")
	}},
	{"without the policy a release frees the seat at once", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		a := f.mustAcquire(l, "ws-a")
		if r := f.releaseAs(a, ""); !r.SeatFreed || !r.LingersUntil.IsZero() {
			t.Fatalf("release = %+v, want the seat freed", r)
		}
		if rel := f.ledgerOf(l, seats.EventReleased); len(rel) != 1 || rel[0].Reason != "" {
			t.Fatalf("released events = %+v, want one plain release", rel)
		}
	}},
	{"a heartbeat within the revive window takes back a free seat", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second, reviving(30))
		a := f.mustAcquire(l, "ws-a")
		sleepUntil(a.ExpiresAt.Add(300 * time.Millisecond))
		if n := f.count(l); n != 0 {
			t.Fatalf("count after the lease ran out = %d, want 0", n)
		}
		// The sweep leaves it for its heartbeat while the window lasts.
		if res := f.sweep(l); res.Expired != 0 {
			t.Fatalf("sweep within the window = %+v, want nothing dropped", res)
		}
		hb, err := f.heartbeat(a)
		if err != nil || !hb.Revived || hb.SessionID != a.SessionID || !hb.ExpiresAt.After(time.Now()) {
			t.Fatalf("heartbeat = %+v, %v; want the session revived", hb, err)
		}
		if n := f.count(l); n != 1 {
			t.Fatalf("count after the revival = %d, want 1", n)
		}
		if next, err := f.heartbeat(a); err != nil || next.Revived {
			t.Fatalf("next heartbeat = %+v, %v; want a plain renewal", next, err)
		}
		exp := f.ledgerOf(l, seats.EventExpired)
		if len(exp) != 1 || !exp[0].At.Equal(a.ExpiresAt) {
			t.Fatalf("expired events = %+v, want one at the lease's end %v", exp, a.ExpiresAt)
		}
		rev := f.ledgerOf(l, seats.EventRevived)
		if len(rev) != 1 || rev[0].SessionRef != a.SessionDigest || rev[0].Fingerprint != "ws-a" || !rev[0].At.After(a.ExpiresAt) {
			t.Fatalf("revived events = %+v, want ws-a's after its expiry", rev)
		}
	}},
	{"revive is refused when the seat is taken", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second, reviving(30))
		a := f.mustAcquire(l, "ws-a")
		sleepUntil(a.ExpiresAt.Add(100 * time.Millisecond))
		f.mustAcquire(l, "ws-b")
		if _, err := f.heartbeat(a); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat on a full license: %v, want not found", err)
		}
		if n := len(f.ledgerOf(l, seats.EventRevived)); n != 0 {
			t.Fatalf("revived events = %d, want none", n)
		}
		if n := len(f.ledgerOf(l, seats.EventExpired)); n != 1 {
			t.Fatalf("expired events = %d, want 1", n)
		}
	}},
	{"revive ends with its window, and the sweep then records the expiry", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Second, reviving(1))
		a := f.mustAcquire(l, "ws-a")
		time.Sleep(800 * time.Millisecond)
		b := f.mustAcquire(l, "ws-b")
		// a's window has passed, b's has not.
		sleepUntil(a.ExpiresAt.Add(1200 * time.Millisecond))
		if res := f.sweep(l); res.Expired != 1 {
			t.Fatalf("sweep after a's window = %+v, want ws-a dropped", res)
		}
		if exp := f.ledgerOf(l, seats.EventExpired); len(exp) != 1 || !exp[0].At.Equal(a.ExpiresAt) {
			t.Fatalf("expired events = %+v, want ws-a's at its lease's end", exp)
		}
		if _, err := f.heartbeat(a); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat after the window: %v, want not found", err)
		}
		if hb, err := f.heartbeat(b); err != nil || !hb.Revived {
			t.Fatalf("heartbeat within the window = %+v, %v; want revived", hb, err)
		}
	}},
	{"a released seat is never revived", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, reviving(30), lingering(1))
		a := f.mustAcquire(l, "ws-a")
		r := f.releaseAs(a, "")
		sleepUntil(r.LingersUntil.Add(100 * time.Millisecond))
		if _, err := f.heartbeat(a); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat after the linger ended: %v, want not found", err)
		}
		if n := len(f.ledgerOf(l, seats.EventLingerEnded)); n != 1 {
			t.Fatalf("linger_ended events = %d, want 1", n)
		}
	}},
	{"revive is refused when the person's seat limit is taken, though a license seat is free", func(t *testing.T, f *fixture) {
		l, _ := f.license(3, time.Second, reviving(30), func(l *seats.License) { l.MaxSeatsPerUser = 1 })
		as := func(fp string) seats.Grant {
			g, err := f.engine.Acquire(context.Background(), seats.AcquireRequest{
				LicenseID: l.ID, LicenseKey: f.key(l), Fingerprint: fp, User: "ada"})
			if err != nil {
				t.Fatalf("acquire %s as ada: %v", fp, err)
			}
			return g
		}
		a := as("ws-a")
		sleepUntil(a.ExpiresAt.Add(100 * time.Millisecond))
		as("ws-b")
		if _, err := f.heartbeat(a); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat while ada holds her one seat elsewhere: %v, want not found", err)
		}
		if n := len(f.ledgerOf(l, seats.EventRevived)); n != 0 {
			t.Fatalf("revived events = %d, want none", n)
		}
	}},
	{"without the policy an expired session stays gone", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second)
		a := f.mustAcquire(l, "ws-a")
		sleepUntil(a.ExpiresAt.Add(100 * time.Millisecond))
		if _, err := f.heartbeat(a); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat: %v, want not found", err)
		}
	}},
	{"racing revivals never take more seats than are free", func(t *testing.T, f *fixture) {
		l, _ := f.license(10, time.Second, reviving(60))
		old := make([]seats.Grant, 10)
		for i := range old {
			old[i] = f.mustAcquire(l, "old-"+string(rune('a'+i)))
		}
		sleepUntil(old[9].ExpiresAt.Add(100 * time.Millisecond))
		for i := range 6 {
			f.mustAcquire(l, "new-"+string(rune('a'+i)))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		revived := 0
		for _, g := range old {
			wg.Go(func() {
				if hb, err := f.heartbeat(g); err == nil && hb.Revived {
					mu.Lock()
					revived++
					mu.Unlock()
				} else if !errors.Is(err, seats.ErrSessionNotFound) {
					t.Errorf("heartbeat: %+v, %v", hb, err)
				}
			})
		}
		wg.Wait()
		if revived != 4 || f.count(l) != 10 {
			t.Fatalf("revived %d with 4 seats free; count %d, want 10", revived, f.count(l))
		}
	}},
}

// TestLingeringSessionIsListed: the sessions view shows a lingering seat,
// with no holders, until its linger ends.
func TestLingeringSessionIsListed(t *testing.T) {
	t.Parallel()
	rdb, prefix := backends(t)["redis"](t)
	f := newFixture(t, rdb, prefix)
	l, _ := f.license(2, time.Minute, lingering(60))
	a := f.mustAcquire(l, "ws-a")
	b := f.mustAcquireAs(l, "ws-b", "proc-1")
	r := f.releaseAs(a, "")
	f.releaseAs(b, "proc-1")
	list, err := f.engine.Sessions(context.Background(), l.ID, 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("sessions = %+v, %v; want both lingering", list, err)
	}
	for _, s := range list {
		if !s.Lingering || len(s.Holders) != 0 {
			t.Errorf("session %+v, want lingering with no holders", s)
		}
	}
	if !list[0].ExpiresAt.Equal(r.LingersUntil) {
		t.Errorf("first listed expires at %v, want the linger's end %v", list[0].ExpiresAt, r.LingersUntil)
	}
	f.mustAcquire(l, "ws-a")
	list, _ = f.engine.Sessions(context.Background(), l.ID, 10)
	for _, s := range list {
		if s.Fingerprint == "ws-a" && (s.Lingering || len(s.Holders) != 1) {
			t.Errorf("reattached session %+v, want held by one holder", s)
		}
	}
}
