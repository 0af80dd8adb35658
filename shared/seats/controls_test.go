package seats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// ledgerOf is a license's ledger entries of one kind.
func (f *fixture) ledgerOf(l seats.License, kind string) []seats.Event {
	f.t.Helper()
	all, err := f.engine.Events(context.Background(), l.ID, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []seats.Event
	for _, ev := range all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// TestRevoke: an admin ends one session, then every session: the seat is
// free at once, the ledger records revoked with reason and actor, each
// heartbeat answers ErrSessionRevoked (a tombstone), release finds nothing,
// and the sweep drops each tombstone once the session would have expired.
func TestRevoke(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := open(t)
			f := newFixture(t, rdb, prefix, engineOptions(name)...)
			ctx := context.Background()
			l, _ := f.license(3, time.Second)
			a, b, c := f.mustAcquire(l, "a"), f.mustAcquire(l, "b"), f.mustAcquire(l, "c")

			if err := f.engine.Revoke(ctx, l.ID, a.SessionDigest, "user:ops"); err != nil {
				t.Fatal(err)
			}
			if n, _ := f.engine.Count(ctx, []string{l.ID}); n[l.ID] != 2 {
				t.Fatalf("live after revoke = %d, want 2", n[l.ID])
			}
			for range 2 {
				if _, err := f.engine.Heartbeat(ctx, a.SessionID); !errors.Is(err, seats.ErrSessionRevoked) {
					t.Fatalf("heartbeat of a revoked session: %v", err)
				}
			}
			if ok, err := f.engine.Release(ctx, a.SessionID); ok || err != nil {
				t.Fatalf("release of a revoked session = %v, %v", ok, err)
			}
			for _, d := range []string{a.SessionDigest, "", tokens.SessionDigest("nope")} {
				if err := f.engine.Revoke(ctx, l.ID, d, "user:ops"); !errors.Is(err, seats.ErrSessionNotFound) {
					t.Fatalf("revoke of %q: %v", d, err)
				}
			}
			if n, err := f.engine.RevokeAll(ctx, l.ID, "api_key:k"); n != 2 || err != nil {
				t.Fatalf("RevokeAll = %d, %v", n, err)
			}
			for _, g := range []seats.Grant{b, c} {
				if _, err := f.engine.Heartbeat(ctx, g.SessionID); !errors.Is(err, seats.ErrSessionRevoked) {
					t.Fatalf("heartbeat after revoke-all: %v", err)
				}
			}
			if n, err := f.engine.RevokeAll(ctx, l.ID, "api_key:k"); n != 0 || err != nil {
				t.Fatalf("RevokeAll with nothing live = %d, %v", n, err)
			}
			got := f.ledgerOf(l, seats.EventRevoked)
			if len(got) != 3 || got[0].SessionRef != a.SessionDigest || got[0].Reason != seats.ReasonRevoked || got[0].Actor != "user:ops" ||
				got[1].Reason != seats.ReasonRevokeAll || got[2].Actor != "api_key:k" {
				t.Fatalf("revoked events = %+v", got)
			}
			// The tombstones go with the sessions' would-be expiry.
			tombs := prefix + "{" + l.ID + "}:x"
			if n := rdb.ZCard(ctx, tombs).Val(); n != 3 {
				t.Fatalf("%d tombstones, want 3", n)
			}
			time.Sleep(1100 * time.Millisecond)
			if _, err := f.engine.Sweep(ctx, []string{l.ID}, 100); err != nil {
				t.Fatal(err)
			}
			if n := rdb.ZCard(ctx, tombs).Val(); n != 0 {
				t.Fatalf("%d tombstones after the sweep, want 0", n)
			}
			if _, err := f.engine.Heartbeat(ctx, a.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
				t.Fatalf("heartbeat once the tombstone is gone: %v", err)
			}
		})
	}
}

// TestBlockEndsSessions: the write-through that blocks a workstation ends
// its live sessions in the same step (per workstation and per user
// leasing), recorded revoked, reason blocked, with the actor; heartbeat
// answers ErrWorkstationBlocked; under per-user leasing a heartbeat naming
// a blocked workstation ends the session; a write that blocks nothing new
// ends nothing.
func TestBlockEndsSessions(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := open(t)
			f := newFixture(t, rdb, prefix, engineOptions(name)...)
			ctx := context.Background()

			l, _ := f.license(3, time.Minute)
			a, b := f.mustAcquire(l, "a"), f.mustAcquire(l, "b")
			l.Blocked, l.Revision = []string{"a"}, l.Revision+1
			if ok, n, err := f.engine.SyncLicenseBy(ctx, l, "user:ops"); !ok || n != 1 || err != nil {
				t.Fatalf("SyncLicenseBy = %v, %d, %v", ok, n, err)
			}
			if _, err := f.engine.Heartbeat(ctx, a.SessionID); !errors.Is(err, seats.ErrWorkstationBlocked) {
				t.Fatalf("heartbeat of a blocked workstation: %v", err)
			}
			if _, err := f.engine.Heartbeat(ctx, b.SessionID); err != nil {
				t.Fatalf("heartbeat of another workstation: %v", err)
			}
			// Written again (a reconciliation): nothing newly blocked.
			if _, n, err := f.engine.SyncLicenseBy(ctx, l, ""); n != 0 || err != nil {
				t.Fatalf("second sync ended %d sessions, %v", n, err)
			}
			got := f.ledgerOf(l, seats.EventRevoked)
			if len(got) != 1 || got[0].SessionRef != a.SessionDigest || got[0].Reason != seats.ReasonBlocked || got[0].Actor != "user:ops" {
				t.Fatalf("revoked events = %+v", got)
			}

			pu, _ := f.license(3, time.Minute, func(l *seats.License) { l.PerUser = true })
			g, err := f.engine.Acquire(ctx, seats.AcquireRequest{LicenseID: pu.ID, LicenseKey: f.key(pu), Fingerprint: "x", User: "ada"})
			if err != nil {
				t.Fatal(err)
			}
			other, err := f.engine.Acquire(ctx, seats.AcquireRequest{LicenseID: pu.ID, LicenseKey: f.key(pu), Fingerprint: "z", User: "bob"})
			if err != nil {
				t.Fatal(err)
			}
			pu.Blocked, pu.Revision = []string{"y", "z"}, pu.Revision+1
			if _, n, err := f.engine.SyncLicenseBy(ctx, pu, ""); n != 1 || err != nil {
				t.Fatalf("per-user sync ended %d sessions, %v", n, err)
			}
			if _, err := f.engine.Heartbeat(ctx, other.SessionID); !errors.Is(err, seats.ErrWorkstationBlocked) {
				t.Fatalf("bob's session from a blocked workstation: %v", err)
			}
			if _, err := f.engine.HeartbeatFrom(ctx, g.SessionID, "x"); err != nil {
				t.Fatalf("ada from her own workstation: %v", err)
			}
			if _, err := f.engine.HeartbeatFrom(ctx, g.SessionID, "y"); !errors.Is(err, seats.ErrWorkstationBlocked) {
				t.Fatalf("ada from a blocked workstation: %v", err)
			}
			if _, err := f.engine.HeartbeatFrom(ctx, g.SessionID, "x"); !errors.Is(err, seats.ErrWorkstationBlocked) {
				t.Fatalf("ada's ended session: %v", err)
			}
		})
	}
}

// TestKeyRotation: the previous key opens the license until its expiry by
// the Redis clock; live sessions keep heartbeating; a workstation resuming
// with the key its session was acquired with gets it back, one resuming
// with the other key gets a new session (never a wrong id).
func TestKeyRotation(t *testing.T) {
	t.Parallel()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := open(t)
			f := newFixture(t, rdb, prefix, engineOptions(name)...)
			ctx := context.Background()
			l, oldKey := f.license(5, time.Minute)
			acquire := func(key, fp string) (seats.Grant, error) {
				return f.engine.Acquire(ctx, seats.AcquireRequest{LicenseID: l.ID, LicenseKey: key, Fingerprint: fp})
			}
			a, _ := acquire(oldKey, "a")
			b, _ := acquire(oldKey, "b")

			newKey, newHash, err := tokens.NewLicenseKey(l.ID)
			if err != nil {
				t.Fatal(err)
			}
			l.PreviousKeyHash, l.PreviousKeyExpiresAt = l.KeyHash, time.Now().Add(time.Second)
			l.KeyHash, l.Revision = newHash, l.Revision+1
			f.put(l)

			if g, err := acquire(oldKey, "b"); err != nil || g.SessionID != b.SessionID || !g.Resumed {
				t.Fatalf("resume with the old key in its grace = %+v, %v", g, err)
			}
			g, err := acquire(newKey, "a")
			if err != nil || g.SessionID == a.SessionID || g.Resumed {
				t.Fatalf("resume with the new key = %+v, %v", g, err)
			}
			if again, err := acquire(newKey, "a"); err != nil || again.SessionID != g.SessionID || !again.Resumed {
				t.Fatalf("resume with the new key again = %+v, %v", again, err)
			}
			if _, err := f.engine.Heartbeat(ctx, a.SessionID); !errors.Is(err, seats.ErrSessionNotFound) {
				t.Fatalf("heartbeat of the replaced session: %v", err)
			}
			if rel := f.ledgerOf(l, seats.EventReleased); len(rel) != 1 || rel[0].Reason != seats.ReasonRekeyed {
				t.Fatalf("released events = %+v", rel)
			}
			time.Sleep(1100 * time.Millisecond)
			if _, err := acquire(oldKey, "c"); !errors.Is(err, seats.ErrLicenseNotFound) {
				t.Fatalf("old key after its grace: %v", err)
			}
			if _, err := f.engine.Heartbeat(ctx, b.SessionID); err != nil {
				t.Fatalf("a session of the old key after the grace: %v", err)
			}
			if n, _ := f.engine.Count(ctx, []string{l.ID}); n[l.ID] != 2 {
				t.Fatalf("live = %d, want 2", n[l.ID])
			}
		})
	}
}
