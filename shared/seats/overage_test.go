package seats_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/seats"
)

// TestOverage: the overage policy on every backend: grants up to the
// allowance, the class of each seat, FIFO reclassification and the
// ledger's edge events.
func TestOverage(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			for _, c := range overageContract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newFixture(t, rdb, prefix, engineOptions(name)...))
				})
			}
		})
	}
}

func overage(mode string, value int) func(*seats.License) {
	return func(l *seats.License) { l.OverageMode, l.OverageValue = mode, value }
}

// classOf is a live session's class as its heartbeat answers it.
func (f *fixture) classOf(g seats.Grant) string {
	f.t.Helper()
	hb, err := f.heartbeat(g)
	if err != nil {
		f.t.Fatalf("heartbeat of %s: %v", g.Fingerprint, err)
	}
	return hb.SeatClass
}

// wantClasses checks each session's class by its heartbeat.
func (f *fixture) wantClasses(want map[string]string, grants ...seats.Grant) {
	f.t.Helper()
	for _, g := range grants {
		if got := f.classOf(g); got != want[g.Fingerprint] {
			f.t.Errorf("%s is %q, want %q", g.Fingerprint, got, want[g.Fingerprint])
		}
	}
}

// refs are the sessions an event list names, in order.
func refs(evs []seats.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.SessionRef
	}
	return out
}

var overageContract = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"grants up to the allowance, beyond the seats as overage, then no seats", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, overage(seats.OverageAbsolute, 2))
		var classes []string
		for i := range 4 {
			g := f.mustAcquire(l, fmt.Sprint("ws", i))
			if g.SeatsUsed != i+1 || g.SeatsTotal != 2 {
				t.Fatalf("grant %d = %+v", i, g)
			}
			classes = append(classes, g.SeatClass)
		}
		if fmt.Sprint(classes) != "[entitled entitled overage overage]" {
			t.Fatalf("classes = %v", classes)
		}
		var full *seats.NoSeatsError
		if _, err := f.acquire(l, "ws4"); !errors.As(err, &full) || full.Used != 4 || full.Seats != 2 {
			t.Fatalf("beyond the allowance: %v, want no seats (4 used of 2 seats)", err)
		}
		acq := f.ledgerOf(l, seats.EventAcquired)
		if len(acq) != 4 || acq[0].Overage || acq[1].Overage || !acq[2].Overage || !acq[3].Overage {
			t.Fatalf("acquired events = %+v, want the last two marked overage", acq)
		}
		if n := len(f.ledgerOf(l, seats.EventOverageEntered)); n != 1 {
			t.Fatalf("overage_entered events = %d, want 1", n)
		}
		// A resume answers the session's class.
		again := f.mustAcquire(l, "ws2")
		if !again.Resumed || again.SeatClass != seats.SeatOverage {
			t.Fatalf("resume of an overage seat = %+v", again)
		}
		if again := f.mustAcquire(l, "ws0"); !again.Resumed || again.SeatClass != seats.SeatEntitled {
			t.Fatalf("resume of an entitled seat = %+v", again)
		}
	}},
	{"percent rounds down: 7 seats at 20 % allow 8", func(t *testing.T, f *fixture) {
		l, _ := f.license(7, time.Minute, overage(seats.OveragePercent, 20))
		if l.Allowance() != 8 {
			t.Fatalf("allowance = %d, want 8", l.Allowance())
		}
		for i := range 8 {
			g := f.mustAcquire(l, fmt.Sprint("ws", i))
			if want := i >= 7; (g.SeatClass == seats.SeatOverage) != want {
				t.Fatalf("grant %d is %s", i, g.SeatClass)
			}
		}
		if _, err := f.acquire(l, "ws8"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("the 9th: %v, want no seats", err)
		}
	}},
	{"unlimited grants whatever the count", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, overage(seats.OverageUnlimited, 0))
		over := 0
		for i := range 25 {
			if f.mustAcquire(l, fmt.Sprint("ws", i)).SeatClass == seats.SeatOverage {
				over++
			}
		}
		if over != 24 || f.count(l) != 25 {
			t.Fatalf("%d overage of %d live, want 24 of 25", over, f.count(l))
		}
	}},
	{"without a policy nothing is overage and ov is never written", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		a := f.mustAcquire(l, "a")
		if a.SeatClass != seats.SeatEntitled || f.classOf(a) != seats.SeatEntitled {
			t.Fatalf("grant = %+v", a)
		}
		if _, err := f.acquire(l, "b"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("second: %v, want no seats", err)
		}
		f.releaseAs(a, "")
		if n := f.rdb.Exists(context.Background(), f.prefix+"{"+l.ID+"}:o").Val(); n != 0 {
			t.Fatalf("the overage set exists for a license without overage")
		}
		if oc := f.rdb.HGet(context.Background(), f.prefix+"{"+l.ID+"}:m", "oc").Val(); oc != "0" {
			t.Fatalf("oc = %q, want 0: heartbeats must not read ov", oc)
		}
	}},
	{"an entitled seat that frees makes the oldest overage session entitled", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, overage(seats.OverageAbsolute, 1))
		a, b, c := f.mustAcquire(l, "a"), f.mustAcquire(l, "b"), f.mustAcquire(l, "c")
		f.wantClasses(map[string]string{"a": seats.SeatEntitled, "b": seats.SeatEntitled, "c": seats.SeatOverage}, a, b, c)
		before := time.Now()
		f.releaseAs(a, "")
		f.wantClasses(map[string]string{"b": seats.SeatEntitled, "c": seats.SeatEntitled}, b, c)
		re := f.ledgerOf(l, seats.EventReclassified)
		if len(re) != 1 || re[0].SessionRef != c.SessionDigest || re[0].At.Before(before.Add(-time.Second)) {
			t.Fatalf("reclassified events = %+v, want c's at the release", re)
		}
		if n := len(f.ledgerOf(l, seats.EventOverageExited)); n != 1 {
			t.Fatalf("overage_exited events = %d, want 1", n)
		}
		// The next grant is the third live session: overage again.
		d := f.mustAcquire(l, "d")
		if d.SeatClass != seats.SeatOverage {
			t.Fatalf("d = %+v, want overage", d)
		}
		if n := len(f.ledgerOf(l, seats.EventOverageEntered)); n != 2 {
			t.Fatalf("overage_entered events = %d, want 2 (one per edge)", n)
		}
	}},
	{"an overage session ending promotes nothing", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, overage(seats.OverageAbsolute, 2))
		a, b, c := f.mustAcquire(l, "a"), f.mustAcquire(l, "b"), f.mustAcquire(l, "c")
		f.releaseAs(c, "")
		f.wantClasses(map[string]string{"a": seats.SeatEntitled, "b": seats.SeatOverage}, a, b)
		if re := f.ledgerOf(l, seats.EventReclassified); len(re) != 0 {
			t.Fatalf("reclassified events = %+v, want none", re)
		}
		if n := len(f.ledgerOf(l, seats.EventOverageExited)); n != 0 {
			t.Fatalf("overage_exited with b still overage")
		}
		f.releaseAs(b, "")
		if ex := f.ledgerOf(l, seats.EventOverageExited); len(ex) != 1 || ex[0].SessionRef != "" {
			t.Fatalf("overage_exited events = %+v, want one naming no session", ex)
		}
		if re := f.ledgerOf(l, seats.EventReclassified); len(re) != 0 {
			t.Fatalf("reclassified events = %+v, want none", re)
		}
	}},
	{"edge events: entered and exited once per edge", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, overage(seats.OverageAbsolute, 3))
		a := f.mustAcquire(l, "a")
		b, c, d := f.mustAcquire(l, "b"), f.mustAcquire(l, "c"), f.mustAcquire(l, "d")
		f.releaseAs(c, "")
		f.releaseAs(b, "")
		// a leaves: d, the only overage session, becomes entitled.
		f.releaseAs(a, "")
		f.wantClasses(map[string]string{"d": seats.SeatEntitled}, d)
		e := f.mustAcquire(l, "e")
		f.releaseAs(e, "")
		entered, exited := f.ledgerOf(l, seats.EventOverageEntered), f.ledgerOf(l, seats.EventOverageExited)
		if len(entered) != 2 || len(exited) != 2 {
			t.Fatalf("entered %d, exited %d; want 2 and 2", len(entered), len(exited))
		}
		// Alternating, in the ledger's order.
		all, err := f.engine.Events(context.Background(), l.ID, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var edges []string
		for _, ev := range all {
			if ev.Kind == seats.EventOverageEntered || ev.Kind == seats.EventOverageExited {
				edges = append(edges, ev.Kind)
			}
		}
		if fmt.Sprint(edges) != "[overage_entered overage_exited overage_entered overage_exited]" {
			t.Fatalf("edges = %v", edges)
		}
	}},
	{"raising seats promotes the oldest overage sessions", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, overage(seats.OverageAbsolute, 3))
		a, b, c, d := f.mustAcquire(l, "a"), f.mustAcquire(l, "b"), f.mustAcquire(l, "c"), f.mustAcquire(l, "d")
		l.Seats, l.Revision = 3, l.Revision+1
		f.put(l)
		f.wantClasses(map[string]string{"a": seats.SeatEntitled, "b": seats.SeatEntitled, "c": seats.SeatEntitled,
			"d": seats.SeatOverage}, a, b, c, d)
		if re := refs(f.ledgerOf(l, seats.EventReclassified)); fmt.Sprint(re) != fmt.Sprint([]string{b.SessionDigest, c.SessionDigest}) {
			t.Fatalf("reclassified %v, want b then c", re)
		}
		l.Seats, l.Revision = 4, l.Revision+1
		f.put(l)
		f.wantClasses(map[string]string{"d": seats.SeatEntitled}, d)
		if n := len(f.ledgerOf(l, seats.EventOverageExited)); n != 1 {
			t.Fatalf("overage_exited events = %d, want 1", n)
		}
	}},
	{"lowering seats demotes no one; new grants are classed by the new seats", func(t *testing.T, f *fixture) {
		l, _ := f.license(3, time.Minute, overage(seats.OverageAbsolute, 2))
		a, b := f.mustAcquire(l, "a"), f.mustAcquire(l, "b")
		l.Seats, l.Revision = 1, l.Revision+1
		f.put(l)
		f.wantClasses(map[string]string{"a": seats.SeatEntitled, "b": seats.SeatEntitled}, a, b)
		c := f.mustAcquire(l, "c")
		if c.SeatClass != seats.SeatOverage {
			t.Fatalf("c = %+v, want overage: 2 live of 1 seat", c)
		}
		if _, err := f.acquire(l, "d"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("d: %v, want no seats (allowance 3)", err)
		}
		// a leaves: b alone fills the one seat, so c stays overage.
		f.releaseAs(a, "")
		f.wantClasses(map[string]string{"b": seats.SeatEntitled, "c": seats.SeatOverage}, b, c)
		f.releaseAs(b, "")
		f.wantClasses(map[string]string{"c": seats.SeatEntitled}, c)
	}},
	{"turning the policy off keeps live sessions' classes and grants up to seats", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, overage(seats.OverageAbsolute, 1))
		a, b := f.mustAcquire(l, "a"), f.mustAcquire(l, "b")
		l.OverageMode, l.OverageValue, l.Revision = seats.OverageNone, 0, l.Revision+1
		f.put(l)
		f.wantClasses(map[string]string{"a": seats.SeatEntitled, "b": seats.SeatOverage}, a, b)
		f.releaseAs(a, "")
		f.wantClasses(map[string]string{"b": seats.SeatEntitled}, b)
		if _, err := f.acquire(l, "c"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("c: %v, want no seats", err)
		}
	}},
	{"revoking an entitled session promotes; revoking every session exits once", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, overage(seats.OverageAbsolute, 2))
		a, b, c := f.mustAcquire(l, "a"), f.mustAcquire(l, "b"), f.mustAcquire(l, "c")
		if err := f.engine.Revoke(context.Background(), l.ID, a.SessionDigest, "admin"); err != nil {
			t.Fatal(err)
		}
		f.wantClasses(map[string]string{"b": seats.SeatEntitled, "c": seats.SeatOverage}, b, c)
		if n, err := f.engine.RevokeAll(context.Background(), l.ID, "admin"); err != nil || n != 2 {
			t.Fatalf("revoke all = %d, %v", n, err)
		}
		if n := len(f.ledgerOf(l, seats.EventOverageExited)); n != 1 {
			t.Fatalf("overage_exited events = %d, want 1", n)
		}
	}},
	{"a lapsed entitled seat promotes at its lease's end when swept", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, 2*time.Second, overage(seats.OverageAbsolute, 1))
		a := f.mustAcquire(l, "a")
		b := f.mustAcquire(l, "b")
		time.Sleep(time.Second)
		if _, err := f.heartbeat(b); err != nil {
			t.Fatal(err)
		}
		sleepUntil(a.ExpiresAt.Add(300 * time.Millisecond))
		if res := f.sweep(l); res.Expired != 1 {
			t.Fatalf("sweep = %+v", res)
		}
		re := f.ledgerOf(l, seats.EventReclassified)
		if len(re) != 1 || re[0].SessionRef != b.SessionDigest || !re[0].At.Equal(a.ExpiresAt) {
			t.Fatalf("reclassified = %+v, want b at a's expiry %v", re, a.ExpiresAt)
		}
		f.wantClasses(map[string]string{"b": seats.SeatEntitled}, b)
	}},
	{"a lapsed seat taken again before the sweep promotes no one", func(t *testing.T, f *fixture) {
		// a and b lapse unswept (a restart, a network drop); c then takes
		// a's seat (entitled: nothing live) and d is overage. When the
		// sweep drops a, b is still in ov though its lease ran out: a count
		// of live - |ov| says a seat is free, the exact count says c holds
		// it, and d must stay overage.
		l, _ := f.license(1, 2*time.Second, overage(seats.OverageAbsolute, 2))
		a := f.mustAcquire(l, "a")
		b := f.mustAcquire(l, "b")
		f.wantClasses(map[string]string{"a": seats.SeatEntitled, "b": seats.SeatOverage}, a, b)
		sleepUntil(b.ExpiresAt.Add(200 * time.Millisecond))
		c := f.mustAcquire(l, "c")
		d := f.mustAcquire(l, "d")
		f.wantClasses(map[string]string{"c": seats.SeatEntitled, "d": seats.SeatOverage}, c, d)
		if res := f.sweep(l); res.Expired != 2 {
			t.Fatalf("sweep = %+v, want a and b expired", res)
		}
		if re := f.ledgerOf(l, seats.EventReclassified); len(re) != 0 {
			t.Fatalf("reclassified %v, want none: c holds the only seat", refs(re))
		}
		f.wantClasses(map[string]string{"c": seats.SeatEntitled, "d": seats.SeatOverage}, c, d)
		// c leaving frees the seat: now d is promoted.
		f.releaseAs(c, "")
		f.wantClasses(map[string]string{"d": seats.SeatEntitled}, d)
	}},
	{"the sessions view shows each session's class", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, overage(seats.OverageAbsolute, 1))
		a := f.mustAcquire(l, "a")
		b := f.mustAcquire(l, "b")
		classes := func() map[string]string {
			list, err := f.engine.Sessions(context.Background(), l.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, s := range list {
				out[s.SessionDigest] = s.SeatClass
			}
			return out
		}
		want := map[string]string{a.SessionDigest: seats.SeatEntitled, b.SessionDigest: seats.SeatOverage}
		if got := classes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("sessions' classes = %v, want %v", got, want)
		}
		f.releaseAs(a, "")
		want = map[string]string{b.SessionDigest: seats.SeatEntitled}
		if got := classes(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after a's release, sessions' classes = %v, want %v", got, want)
		}
	}},
	{"a promotion is dated after every lease that ran out unswept", func(t *testing.T, f *fixture) {
		// a lapses; c takes its seat and o is overage; b, entitled all
		// along, lapses after o's grant. When the sweep drops a, o is
		// promoted, but not from a's end nor o's grant: b held its seat
		// until its own end, so o is entitled from then.
		l, _ := f.license(2, 2*time.Second, overage(seats.OverageAbsolute, 1))
		a := f.mustAcquire(l, "a")
		time.Sleep(time.Second)
		b := f.mustAcquire(l, "b")
		sleepUntil(a.ExpiresAt.Add(100 * time.Millisecond))
		c := f.mustAcquire(l, "c")
		o := f.mustAcquire(l, "o")
		// (wantClasses heartbeats: b is left to lapse.)
		f.wantClasses(map[string]string{"c": seats.SeatEntitled, "o": seats.SeatOverage}, c, o)
		sleepUntil(b.ExpiresAt.Add(200 * time.Millisecond))
		if res := f.sweep(l); res.Expired != 2 {
			t.Fatalf("sweep = %+v, want a and b expired", res)
		}
		re := f.ledgerOf(l, seats.EventReclassified)
		if len(re) != 1 || re[0].SessionRef != o.SessionDigest || !re[0].At.Equal(b.ExpiresAt) {
			t.Fatalf("reclassified = %+v, want o at b's expiry %v", re, b.ExpiresAt)
		}
		f.wantClasses(map[string]string{"c": seats.SeatEntitled, "o": seats.SeatEntitled}, c, o)
	}},
	{"a lapsed overage session is passed over, and revived as entitled", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, 2*time.Second, overage(seats.OverageAbsolute, 2), reviving(60))
		a := f.mustAcquire(l, "a")
		b := f.mustAcquire(l, "b") // lapses
		c := f.mustAcquire(l, "c")
		time.Sleep(time.Second)
		for _, g := range []seats.Grant{a, c} {
			if _, err := f.heartbeat(g); err != nil {
				t.Fatal(err)
			}
		}
		sleepUntil(b.ExpiresAt.Add(200 * time.Millisecond))
		// a leaves: b is the oldest overage session but no longer live, so
		// c is promoted; b stays overage until it is dropped or revived.
		f.releaseAs(a, "")
		f.wantClasses(map[string]string{"c": seats.SeatEntitled}, c)
		if re := refs(f.ledgerOf(l, seats.EventReclassified)); fmt.Sprint(re) != fmt.Sprint([]string{c.SessionDigest}) {
			t.Fatalf("reclassified %v, want c", re)
		}
		if n := len(f.ledgerOf(l, seats.EventOverageExited)); n != 0 {
			t.Fatalf("overage_exited while b is still of class overage")
		}
		f.releaseAs(c, "")
		hb, err := f.heartbeat(b)
		if err != nil || !hb.Revived || hb.SeatClass != seats.SeatEntitled {
			t.Fatalf("b's heartbeat = %+v, %v; want revived, entitled", hb, err)
		}
		if n := len(f.ledgerOf(l, seats.EventOverageExited)); n != 1 {
			t.Fatalf("overage_exited events = %d, want 1 once b left ov", n)
		}
	}},
}

// TestOverageInvariant: whatever the order of grants and releases, with
// constant seats the entitled sessions are the oldest live ones, and the
// overage count is max(0, live - seats).
func TestOverageInvariant(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			f := newFixture(t, rdb, prefix, engineOptions(name)...)
			const seatCount = 3
			l, _ := f.license(seatCount, time.Minute, overage(seats.OverageAbsolute, 4))
			rng := rand.New(rand.NewPCG(20, 17))
			var live []seats.Grant // in grant order
			for step := range 60 {
				if len(live) > 0 && (len(live) == 7 || rng.IntN(3) == 0) {
					i := rng.IntN(len(live))
					f.releaseAs(live[i], "")
					live = append(live[:i], live[i+1:]...)
				} else {
					live = append(live, f.mustAcquire(l, fmt.Sprint("ws", step)))
				}
				over := 0
				for i, g := range live {
					class := f.classOf(g)
					if want := i >= seatCount; (class == seats.SeatOverage) != want {
						t.Fatalf("step %d: session %d of %d live is %s", step, i, len(live), class)
					}
					if class == seats.SeatOverage {
						over++
					}
				}
				if over != max(0, len(live)-seatCount) {
					t.Fatalf("step %d: %d overage of %d live", step, over, len(live))
				}
			}
			if len(f.ledgerOf(l, seats.EventReclassified)) == 0 {
				t.Fatal("the run never reclassified a session")
			}
		})
	}
}

// TestConcurrentOverage: 200 clients at once on a license of 5 seats
// allowing 10: exactly 10 granted, exactly 5 of them overage.
func TestConcurrentOverage(t *testing.T) {
	t.Parallel()
	reps := map[string]int{"redis": 20, "cluster": 5, "miniredis": 5, "redis/pipelined": 20, "cluster/pipelined": 5}
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			f := newFixture(t, rdb, prefix, engineOptions(name)...)
			for rep := range reps[name] {
				l, _ := f.license(5, time.Minute, overage(seats.OverageAbsolute, 5))
				var granted, over, denied atomic.Int64
				var wg sync.WaitGroup
				for i := range 200 {
					wg.Go(func() {
						g, err := f.acquire(l, fmt.Sprintf("ws-%d", i))
						switch {
						case err == nil:
							granted.Add(1)
							if g.SeatClass == seats.SeatOverage {
								over.Add(1)
							}
						case errors.Is(err, seats.ErrNoSeats):
							denied.Add(1)
						default:
							t.Errorf("acquire: %v", err)
						}
					})
				}
				wg.Wait()
				if granted.Load() != 10 || over.Load() != 5 || denied.Load() != 190 {
					t.Fatalf("rep %d: granted %d (%d overage), denied %d; want 10 (5), 190", rep,
						granted.Load(), over.Load(), denied.Load())
				}
				if n := len(f.ledgerOf(l, seats.EventOverageEntered)); n != 1 {
					t.Fatalf("rep %d: overage_entered %d times", rep, n)
				}
			}
		})
	}
}
