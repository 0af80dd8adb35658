package seats_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/seats"
)

// acquireAs acquires as one process (instance) of a workstation.
func (f *fixture) acquireAs(l seats.License, fp, instance string) (seats.Grant, error) {
	return f.engine.Acquire(context.Background(), seats.AcquireRequest{
		LicenseID: l.ID, LicenseKey: f.key(l), Fingerprint: fp, Hostname: "host-" + fp, User: "user-" + fp,
		InstanceID: instance})
}

func (f *fixture) mustAcquireAs(l seats.License, fp, instance string) seats.Grant {
	f.t.Helper()
	g, err := f.acquireAs(l, fp, instance)
	if err != nil {
		f.t.Fatalf("acquire %s as %q: %v", fp, instance, err)
	}
	return g
}

func (f *fixture) heartbeatAs(g seats.Grant, instance string) error {
	_, err := f.engine.HeartbeatHolder(context.Background(), g.SessionID, g.Fingerprint, instance)
	return err
}

func (f *fixture) releaseAs(g seats.Grant, instance string) seats.Released {
	f.t.Helper()
	r, err := f.engine.ReleaseHolder(context.Background(), g.SessionID, instance)
	if err != nil {
		f.t.Fatalf("release as %q: %v", instance, err)
	}
	return r
}

// holderIDs are the instance ids the sessions view shows for a session.
func (f *fixture) holderIDs(l seats.License, digest string) []string {
	f.t.Helper()
	list, err := f.engine.Sessions(context.Background(), l.ID, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, s := range list {
		if s.SessionDigest == digest {
			ids := []string{}
			for _, h := range s.Holders {
				ids = append(ids, h.InstanceID)
			}
			return ids
		}
	}
	return nil
}

// TestSharedSeats: several processes of one workstation hold its one seat,
// reference-counted: each holds it until it releases or lapses, and the
// seat frees with the last of them. On every backend.
func TestSharedSeats(t *testing.T) {
	t.Parallel()
	for name, backend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := backend(t)
			for _, c := range sharedSeatContract {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, newFixture(t, rdb, prefix, engineOptions(name)...))
				})
			}
		})
	}
}

var sharedSeatContract = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"one process releasing keeps the other's seat on a full license while a third workstation waits", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		a := f.mustAcquireAs(l, "ws", "proc-a")
		b := f.mustAcquireAs(l, "ws", "proc-b")
		if b.SessionID != a.SessionID || !b.Resumed || b.SeatsUsed != 1 {
			t.Fatalf("second process = %+v, want the first's session (%s) resumed on one seat", b, a.SessionDigest)
		}
		if got := f.holderIDs(l, a.SessionDigest); len(got) != 2 {
			t.Fatalf("holders = %v, want proc-a and proc-b", got)
		}
		if _, err := f.acquire(l, "ws-3"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("third workstation on a full license: %v", err)
		}
		if r := f.releaseAs(a, "proc-a"); !r.Released || r.SeatFreed {
			t.Fatalf("first process releases = %+v, want its hold ended and the seat kept", r)
		}
		if _, err := f.acquire(l, "ws-3"); !errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("third workstation after one of two holders released: %v, want still no seats", err)
		}
		if err := f.heartbeatAs(b, "proc-b"); err != nil {
			t.Fatalf("the remaining process's heartbeat: %v", err)
		}
		if err := f.heartbeatAs(a, "proc-a"); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat of the process that released: %v, want ErrSessionNotFound", err)
		}
		if r := f.releaseAs(a, "proc-a"); r.Released {
			t.Fatalf("releasing twice = %+v, want nothing released", r)
		}
		if got := f.holderIDs(l, a.SessionDigest); len(got) != 1 || got[0] != "proc-b" {
			t.Fatalf("holders = %v, want [proc-b]", got)
		}
		if r := f.releaseAs(b, "proc-b"); !r.Released || !r.SeatFreed {
			t.Fatalf("last holder releases = %+v, want the seat freed", r)
		}
		if g, err := f.acquire(l, "ws-3"); err != nil || g.SeatsUsed != 1 {
			t.Fatalf("third workstation after the last holder released: %+v, %v", g, err)
		}
		// A seat is a seat: the ledger saw one session start and end,
		// however many processes held it.
		if n := len(f.ledgerOf(l, "acquired")); n != 2 {
			t.Fatalf("acquired events = %d, want 2 (the shared seat, then ws-3)", n)
		}
		if rel := f.ledgerOf(l, "released"); len(rel) != 1 || rel[0].SessionRef != a.SessionDigest {
			t.Fatalf("released events = %+v, want the shared seat's once", rel)
		}
	}},
	{"a lapsed holder costs nothing while another holds, and rejoins by acquiring", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second)
		a := f.mustAcquireAs(l, "ws", "proc-a")
		b := f.mustAcquireAs(l, "ws", "proc-b")
		for range 3 {
			time.Sleep(500 * time.Millisecond)
			if err := f.heartbeatAs(b, "proc-b"); err != nil {
				t.Fatalf("heartbeat of the live holder: %v", err)
			}
		}
		if err := f.heartbeatAs(a, "proc-a"); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat of the lapsed holder: %v, want ErrSessionNotFound", err)
		}
		if n := f.count(l); n != 1 {
			t.Fatalf("count = %d, want the seat still held", n)
		}
		if got := f.holderIDs(l, a.SessionDigest); len(got) != 1 || got[0] != "proc-b" {
			t.Fatalf("holders = %v, want only the live one", got)
		}
		back := f.mustAcquireAs(l, "ws", "proc-a")
		if back.SessionID != a.SessionID || !back.Resumed {
			t.Fatalf("the lapsed holder's acquire = %+v, want it back in the same session", back)
		}
		if err := f.heartbeatAs(a, "proc-a"); err != nil {
			t.Fatalf("heartbeat after rejoining: %v", err)
		}
		if len(f.ledgerOf(l, "expired")) != 0 {
			t.Fatal("a lapsed holder was recorded as an expired session")
		}
	}},
	{"the seat frees when the last holder lapses, recorded once as expired", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second)
		a := f.mustAcquireAs(l, "ws", "proc-a")
		f.mustAcquireAs(l, "ws", "proc-b")
		time.Sleep(1100 * time.Millisecond)
		if n := f.count(l); n != 0 {
			t.Fatalf("count after every holder lapsed = %d", n)
		}
		if _, err := f.engine.Sweep(context.Background(), []string{l.ID}, 100); err != nil {
			t.Fatal(err)
		}
		if ex := f.ledgerOf(l, "expired"); len(ex) != 1 || ex[0].SessionRef != a.SessionDigest {
			t.Fatalf("expired events = %+v, want the shared seat's once", ex)
		}
		if g := f.mustAcquire(l, "ws-2"); g.SeatsUsed != 1 {
			t.Fatalf("acquire after the shared seat lapsed = %+v", g)
		}
	}},
	{"a sole holder heartbeats as a plain session does, and keeps its own expiry once another joins", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Second)
		a := f.mustAcquireAs(l, "ws", "proc-a")
		for range 3 {
			time.Sleep(400 * time.Millisecond)
			if err := f.heartbeatAs(a, "proc-a"); err != nil {
				t.Fatalf("the sole holder's heartbeat: %v", err)
			}
		}
		list, err := f.engine.Sessions(context.Background(), l.ID, 10)
		if err != nil || len(list) != 1 || len(list[0].Holders) != 1 || list[0].Holders[0].InstanceID != "proc-a" ||
			!list[0].Holders[0].ExpiresAt.Equal(list[0].ExpiresAt) {
			t.Fatalf("sessions = %+v, %v; want proc-a holding until the session's expiry", list, err)
		}
		if err := f.heartbeatAs(a, "proc-b"); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat of an instance that never joined: %v", err)
		}
		b := f.mustAcquireAs(l, "ws", "proc-b")
		// proc-a stops; proc-b heartbeats on past proc-a's expiry.
		for range 3 {
			time.Sleep(400 * time.Millisecond)
			if err := f.heartbeatAs(b, "proc-b"); err != nil {
				t.Fatalf("proc-b's heartbeat: %v", err)
			}
		}
		if err := f.heartbeatAs(a, "proc-a"); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("the lapsed first holder's heartbeat: %v", err)
		}
		if got := f.holderIDs(l, a.SessionDigest); len(got) != 1 || got[0] != "proc-b" {
			t.Fatalf("holders = %v, want [proc-b]", got)
		}
		if r := f.releaseAs(b, "proc-b"); !r.SeatFreed {
			t.Fatalf("the last holder's release = %+v", r)
		}
	}},
	{"max_instances_per_seat refuses one more holder with instance_limit", func(t *testing.T, f *fixture) {
		l, _ := f.license(2, time.Minute, func(l *seats.License) { l.MaxInstancesPerSeat = 2 })
		a := f.mustAcquireAs(l, "ws", "p1")
		f.mustAcquireAs(l, "ws", "p2")
		_, err := f.acquireAs(l, "ws", "p3")
		var limit *seats.InstanceLimitError
		if !errors.As(err, &limit) || limit.Holders != 2 || limit.Max != 2 || errors.Is(err, seats.ErrNoSeats) {
			t.Fatalf("third holder: %v, want InstanceLimitError{2, 2}", err)
		}
		if d := f.ledgerOf(l, "denied"); len(d) != 1 || d[0].Reason != "instance_limit" {
			t.Fatalf("denied events = %+v, want one instance_limit", d)
		}
		// A holder renewing its hold is not one more.
		if g, err := f.acquireAs(l, "ws", "p1"); err != nil || g.SessionID != a.SessionID {
			t.Fatalf("p1 again: %+v, %v", g, err)
		}
		// The limit is per seat: another workstation has its own.
		f.mustAcquireAs(l, "ws-2", "p3")
		f.releaseAs(a, "p2")
		if g, err := f.acquireAs(l, "ws", "p3"); err != nil || g.SessionID != a.SessionID {
			t.Fatalf("p3 after p2 released: %+v, %v", g, err)
		}
	}},
	{"without a policy a seat takes MaxHoldersPerSeat holders and refuses one more", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		for i := range seats.MaxHoldersPerSeat {
			f.mustAcquireAs(l, "ws", fmt.Sprint("p", i))
		}
		_, err := f.acquireAs(l, "ws", "one-more")
		var limit *seats.InstanceLimitError
		if !errors.As(err, &limit) || limit.Holders != seats.MaxHoldersPerSeat || limit.Max != seats.MaxHoldersPerSeat {
			t.Fatalf("holder %d: %v, want InstanceLimitError{%d, %d}", seats.MaxHoldersPerSeat+1, err,
				seats.MaxHoldersPerSeat, seats.MaxHoldersPerSeat)
		}
	}},
	{"a session acquired without an instance is one anonymous holder", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, func(l *seats.License) { l.MaxInstancesPerSeat = 2 })
		anon := f.mustAcquire(l, "ws")
		if got := f.holderIDs(l, anon.SessionDigest); len(got) != 1 || got[0] != "" {
			t.Fatalf("holders of a plain session = %q, want one anonymous", got)
		}
		p := f.mustAcquireAs(l, "ws", "proc")
		if p.SessionID != anon.SessionID {
			t.Fatal("a process joining a plain session got another session")
		}
		var limit *seats.InstanceLimitError
		if _, err := f.acquireAs(l, "ws", "proc-2"); !errors.As(err, &limit) || limit.Holders != 2 {
			t.Fatalf("a third holder (anonymous, proc, proc-2) under max 2: %v, want InstanceLimitError", err)
		}
		if r := f.releaseAs(anon, ""); !r.Released || r.SeatFreed {
			t.Fatalf("the anonymous holder releases = %+v, want the seat kept for proc", r)
		}
		if err := f.heartbeatAs(anon, ""); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("anonymous heartbeat after its release: %v", err)
		}
		if err := f.heartbeatAs(p, "proc"); err != nil {
			t.Fatal(err)
		}
		if r := f.releaseAs(p, "proc"); !r.SeatFreed {
			t.Fatalf("last holder releases = %+v", r)
		}
	}},
	{"plain sessions keep their behaviour: any release frees the seat", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		a := f.mustAcquire(l, "ws")
		b := f.mustAcquire(l, "ws")
		// An instance named on a plain session's heartbeat changes nothing.
		if err := f.heartbeatAs(a, "someone"); err != nil {
			t.Fatal(err)
		}
		if r := f.releaseAs(b, ""); !r.Released || !r.SeatFreed {
			t.Fatalf("release = %+v", r)
		}
		if _, err := f.engine.Heartbeat(context.Background(), a.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
			t.Fatalf("heartbeat after release: %v", err)
		}
	}},
	{"revoking a shared seat ends every holder", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute)
		a := f.mustAcquireAs(l, "ws", "p1")
		f.mustAcquireAs(l, "ws", "p2")
		if err := f.engine.Revoke(context.Background(), l.ID, a.SessionDigest, "user:ops"); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"p1", "p2"} {
			if err := f.heartbeatAs(a, p); !errors.Is(err, seats.ErrSessionRevoked) {
				t.Fatalf("heartbeat of %s: %v, want ErrSessionRevoked", p, err)
			}
		}
		if n := f.count(l); n != 0 {
			t.Fatalf("count = %d", n)
		}
	}},
	{"holders racing to join and leave never leave a seat without a live holder or hold two", func(t *testing.T, f *fixture) {
		l, _ := f.license(1, time.Minute, func(l *seats.License) { l.MaxInstancesPerSeat = 10 })
		var joined, limited atomic.Int64
		var wg sync.WaitGroup
		grants := make([]seats.Grant, 60)
		for i := range 60 {
			wg.Go(func() {
				g, err := f.acquireAs(l, "ws", fmt.Sprint("p", i))
				var limit *seats.InstanceLimitError
				switch {
				case err == nil:
					grants[i] = g
					joined.Add(1)
				case errors.As(err, &limit):
					limited.Add(1)
				default:
					t.Errorf("acquire p%d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if joined.Load() != 10 || limited.Load() != 50 {
			t.Fatalf("joined %d, limited %d; want 10 and 50", joined.Load(), limited.Load())
		}
		var freed atomic.Int64
		for i, g := range grants {
			if g.SessionID == "" {
				continue
			}
			wg.Go(func() {
				if f.releaseAs(g, fmt.Sprint("p", i)).SeatFreed {
					freed.Add(1)
				}
			})
		}
		wg.Wait()
		if freed.Load() != 1 || f.count(l) != 0 {
			t.Fatalf("seat freed %d times, %d live; want exactly once and none", freed.Load(), f.count(l))
		}
		if n := len(f.ledgerOf(l, "released")); n != 1 {
			t.Fatalf("released events = %d, want 1", n)
		}
	}},
}
