package license

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// minHeartbeat is the shortest wait between two heartbeats, whatever the
// lease says.
const minHeartbeat = 250 * time.Millisecond

// releaseOnRejectTimeout bounds the release Acquire makes of a seat whose
// lease it rejected.
const releaseOnRejectTimeout = 5 * time.Second

// Seat is a seat of a license held by this workstation. A background
// goroutine keeps it alive until Close or until it is lost for good (see the
// package documentation). Its methods are safe for concurrent use.
type Seat struct {
	c *client

	done chan struct{} // closed when the seat is over (Done)

	// opMu serializes Borrow, Return and Close: each changes what the
	// seat is (heartbeating, borrowed, over) across network calls.
	opMu sync.Mutex

	mu sync.Mutex
	// stop ends the background loop (heartbeats, or a borrow's watch) and
	// loopDone is closed when it has returned; Borrow replaces both.
	stop      context.CancelFunc
	loopDone  chan struct{}
	sessionID string
	token     string
	claims    leasejws.Claims
	lastErr   error
	err       error // why done closed; nil after Close
	over      bool  // closing or lost: Valid is false from then on
	changed   chan struct{}
	expiry    *time.Timer // announces the current lease's expiry
	closing   bool
	closed    chan struct{} // closed when the first Close has finished
	resumed   bool          // Status.Resumed
	revived   bool          // Status.Revived
	// borrowed: the seat is checked out for offline use; token and claims
	// are the borrow lease, and deviceKey the key that returns it.
	borrowed  bool
	deviceKey ed25519.PrivateKey
}

// Status is a snapshot of a seat.
type Status struct {
	// Valid: the seat holds a verified lease that has not expired (see
	// [Seat.Valid]).
	Valid bool
	// SessionID is the server's session; it changes when the seat had to
	// acquire again.
	SessionID string
	// ExpiresAt is when the current lease runs out unless renewed.
	ExpiresAt time.Time
	// LastError is the latest failed heartbeat or acquire since the last
	// success: set while the seat rides out an outage. Nil when healthy.
	LastError error
	// Over: the seat was lost or is being closed; Done is, or is about to
	// be, closed. Valid is false and SessionID and ExpiresAt are zero.
	Over bool
	// Resumed: the current session was held before this seat took it: by
	// another process of this workstation sharing the seat, or by an
	// earlier run whose released seat was still lingering (the license's
	// linger_seconds), so a restart kept it.
	Resumed bool
	// Revived: the current session's lease ran out once (an outage longer
	// than the lease) and the server took the same session back, within
	// the license's revive_seconds, because a seat was free.
	Revived bool
	// Overage: the seat is held beyond the license's committed seats,
	// under its overage policy, as the signed lease says ("overage"). It
	// turns false at the next renewal once the seat has been reclassified
	// entitled (a committed seat freed and this was the oldest overage
	// seat). An application may warn its user, or limit itself; the seat is
	// as valid as any other.
	Overage bool
	// Borrowed: the seat is checked out for offline use ([Seat.Borrow]):
	// it needs no server until BorrowedUntil, when it ends. ExpiresAt is
	// BorrowedUntil then.
	Borrowed      bool
	BorrowedUntil time.Time
}

// Acquire takes a seat of cfg's license for this workstation, verifies its
// lease and starts the background heartbeats. It returns the first failure,
// except those worth waiting for: 429, 502, 503 and 504 answers (and 409
// ErrNoSeats with cfg.WaitForSeat) are retried, after Retry-After or with
// backoff, until ctx ends; the error then matches both ctx's error and the
// last answer. ctx bounds only Acquire, not the seat it returns.
//
// With [Config.BorrowFile] set, Acquire first reads that file, with no
// network: when it holds a live borrow of this license and workstation,
// Acquire returns that borrowed seat (as [OpenBorrowed]) instead of
// acquiring; a borrow that has ended is removed and a seat acquired; a
// file that does not verify (or is open to other users) is an error, left
// in place for someone to look at. A file of another license or workstation
// is left alone and a seat acquired.
func Acquire(ctx context.Context, cfg Config) (*Seat, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if c.borrowFile != "" {
		b, err := c.loadBorrow(c.now())
		switch {
		case err == nil:
			return newBorrowedSeat(c, b), nil
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrBorrowEnded):
		case errors.Is(err, errOtherBorrow):
			c.log.Info("license: the borrow file holds another license's or workstation's borrow; acquiring", "error", err)
		default:
			return nil, err
		}
	}
	var last error // the last answer worth waiting on
	for failures := 1; ; failures++ {
		g, resp, err := c.acquire(ctx)
		switch {
		case err == nil:
			return newSeat(c, g), nil
		case errors.Is(err, ErrInvalidLease):
			c.giveBack(ctx, resp)
			return nil, err
		case ctx.Err() != nil && last != nil:
			return nil, fmt.Errorf("license: acquiring a seat: %w (last answer: %w)", ctx.Err(), last)
		case ctx.Err() != nil || !c.retryAcquire(err):
			return nil, err
		}
		last = err
		wait := c.retryDelay(err, failures)
		c.log.Info("license: waiting to acquire a seat", "error", err, "attempt", failures, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("license: acquiring a seat: %w (last answer: %w)", ctx.Err(), last)
		case <-t.C:
		}
	}
}

// giveBack releases a session whose lease Acquire rejected, so that it does
// not hold a seat until it expires. A resumed session was held before this
// call (by an earlier run, or by the same user elsewhere): it is left alone.
func (c *client) giveBack(ctx context.Context, resp seatResponse) {
	if resp.SessionID == "" || resp.Resumed {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseOnRejectTimeout)
	defer cancel()
	if _, err := c.release(ctx, resp.SessionID); err != nil {
		c.log.Warn("license: releasing the seat of a rejected lease", "error", err)
	}
}

func newSeat(c *client, g grant) *Seat {
	ctx, stop := context.WithCancel(context.Background())
	s := &Seat{c: c, stop: stop, loopDone: make(chan struct{}), done: make(chan struct{}),
		changed: make(chan struct{}), closed: make(chan struct{})}
	s.mu.Lock()
	s.acceptLocked(g)
	s.mu.Unlock()
	c.log.Info("license: seat acquired", "expires_at", g.claims.ExpiresAt, "resumed", g.resumed)
	go s.run(ctx, s.loopDone, g.interval)
	return s
}

// Lease returns the seat's current verified lease: the compact JWS and what
// it says. It may have expired (Valid says whether it holds); both are zero
// once Done is closed.
func (s *Seat) Lease() (token string, claims leasejws.Claims) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return "", leasejws.Claims{}
	}
	return s.token, s.claims
}

// Valid reports whether the seat holds a verified lease that has not
// expired by the Config's clock. It stays true through an outage until the
// lease runs out, and is false once Done is closed.
func (s *Seat) Valid() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.validLocked()
}

func (s *Seat) validLocked() bool {
	return !s.over && s.token != "" && s.c.now().Before(s.claims.ExpiresAt)
}

// Status returns a snapshot of the seat.
func (s *Seat) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Valid: s.validLocked(), SessionID: s.sessionID, ExpiresAt: s.claims.ExpiresAt,
		LastError: s.lastErr, Over: s.over, Resumed: s.resumed, Revived: s.revived, Overage: s.claims.Overage,
		Borrowed: s.borrowed}
	if s.borrowed {
		st.BorrowedUntil = s.claims.ExpiresAt
	}
	if s.over {
		st.SessionID, st.ExpiresAt, st.Resumed, st.Revived, st.Overage = "", time.Time{}, false, false, false
		st.Borrowed, st.BorrowedUntil = false, time.Time{}
	}
	return st
}

// Changed returns a channel closed at the next change of Status: a renewed
// lease, a failure or recovery, the lease expiring, the seat being lost or
// closed. Take the channel before reading the state, then wait on it:
//
//	for {
//		ch := seat.Changed()
//		show(seat.Status())
//		select {
//		case <-ch:
//		case <-seat.Done():
//			return
//		}
//	}
func (s *Seat) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Done returns a channel closed when the seat is over: lost for good
// (license inactive or not found, workstation blocked, session revoked: see
// Err) or closed.
func (s *Seat) Done() <-chan struct{} { return s.done }

// Err says why Done was closed: an error matching ErrLicenseInactive,
// ErrLicenseNotFound, ErrWorkstationBlocked or ErrSessionRevoked when the
// seat was lost, ErrBorrowEnded when its borrow ran out, nil when it was
// closed or returned or is not over yet.
func (s *Seat) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close stops the heartbeats and releases the seat (best effort, bounded by
// ctx), then closes Done. It returns the release's failure, if any; the
// seat is over either way. Only the first call releases: later and
// concurrent calls wait for it (or for their ctx) and return nil. A seat
// lost for good has no session left to release.
//
// Close of a borrowed seat releases nothing: the borrow stays, in
// BorrowFile, until its end or [Seat.Return]; Close only stops watching it.
func (s *Seat) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		select {
		case <-s.closed:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.closing = true
	lost := s.over
	s.over = true
	s.notifyLocked()
	s.mu.Unlock()
	defer close(s.closed)

	// Wait for a Borrow or Return under way: the seat it leaves is the one
	// to close.
	s.opMu.Lock()
	defer s.opMu.Unlock()
	// Stop the loop and wait for it, so the session read below is the last
	// one it acquired. Its calls use its own context, so it returns at once.
	s.mu.Lock()
	stop, loopDone := s.stop, s.loopDone
	s.mu.Unlock()
	stop()
	<-loopDone

	var err error
	s.mu.Lock()
	sid, borrowed := s.sessionID, s.borrowed
	s.mu.Unlock()
	if !lost && !borrowed {
		var r released
		if r, err = s.c.release(ctx, sid); err != nil {
			err = fmt.Errorf("license: releasing the seat: %w", err)
			s.c.log.Warn("license: releasing the seat", "error", err)
		} else {
			s.c.log.Info("license: seat released", "released", r.Released, "seat_freed", r.SeatFreed)
		}
	}
	s.finish(nil)
	return err
}

// finish ends the seat: Done is closed with err unless it already was.
func (s *Seat) finish(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		return
	default:
	}
	s.over = true
	s.err = err
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.notifyLocked()
	close(s.done)
}

// acceptLocked makes g the seat's lease.
func (s *Seat) acceptLocked(g grant) {
	if g.sessionID != s.sessionID {
		// A new session (the first, or one acquired again): whether it was
		// held before is what this acquire said.
		s.resumed, s.revived = g.resumed, false
	}
	s.revived = s.revived || g.revived
	s.sessionID, s.token, s.claims, s.lastErr = g.sessionID, g.token, g.claims, nil
	if s.expiry != nil {
		s.expiry.Stop()
	}
	// Wake Changed watchers when the lease runs out (Valid turns false).
	s.expiry = time.AfterFunc(g.claims.ExpiresAt.Sub(s.c.now())+time.Millisecond, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.notifyLocked()
	})
	s.notifyLocked()
}

func (s *Seat) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// run keeps the seat alive until ctx ends or the seat is lost for good.
// When a heartbeat says the session is borrowed and the borrow file holds
// that borrow, it watches the borrow instead.
func (s *Seat) run(ctx context.Context, loopDone chan struct{}, interval time.Duration) {
	defer close(loopDone)
	var (
		failures  int  // consecutive failed calls
		reacquire bool // the session is gone: acquire a new one
	)
	t := time.NewTimer(s.heartbeatWait(interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}

		s.mu.Lock()
		sid := s.sessionID
		s.mu.Unlock()
		var (
			g   grant
			err error
		)
		// Once the lease has run out the session is gone on the server,
		// unless the license revives it: the heartbeat asks, and its 404
		// (no revive, or no seat free) acquires again at once.
		if reacquire {
			g, _, err = s.c.acquire(ctx)
		} else {
			g, err = s.c.heartbeat(ctx, sid)
		}
		if ctx.Err() != nil {
			return
		}

		var wait time.Duration
		switch {
		case err == nil:
			if failures > 0 || g.sessionID != sid || g.revived {
				s.c.log.Info("license: seat renewed", "new_session", g.sessionID != sid, "revived", g.revived,
					"after_failures", failures, "expires_at", g.claims.ExpiresAt)
			}
			failures, reacquire, interval = 0, false, g.interval
			s.mu.Lock()
			s.acceptLocked(g)
			s.mu.Unlock()
			t.Reset(s.heartbeatWait(interval))
			continue
		case lostForGood(err):
			s.c.log.Error("license: seat lost", "error", err)
			s.finish(err)
			return
		case errors.Is(err, ErrSessionBorrowed) && s.adoptBorrow(sid):
			s.borrowLoop(ctx, true)
			return
		case errors.Is(err, ErrSessionNotFound):
			failures++
			reacquire = true
			// The first time, acquire again at once: the server most
			// likely restarted or lost its data, and the seat is free.
			wait = 0
			if failures > 1 {
				wait = s.c.backoff(failures - 1)
			}
		default:
			failures++
			wait = s.c.retryDelay(err, failures)
		}
		s.c.log.Log(ctx, failureLevel(err), "license: keeping the seat failed; retrying",
			"error", err, "attempt", failures, "retry_in", wait, "valid", s.Valid())
		s.mu.Lock()
		s.lastErr = err
		s.notifyLocked()
		s.mu.Unlock()
		t.Reset(wait)
	}
}

// heartbeatWait is the wait before the next heartbeat: the server's
// interval, never more than half of what is left of the lease, ±10%.
func (s *Seat) heartbeatWait(interval time.Duration) time.Duration {
	s.mu.Lock()
	left := s.claims.ExpiresAt.Sub(s.c.now())
	s.mu.Unlock()
	d := interval
	if d <= 0 {
		d = left / 3
	}
	if d > left/2 {
		d = left / 2
	}
	d = max(d, minHeartbeat)
	return d - d/10 + rand.N(d/5+1)
}

// failureLevel logs a rejected lease louder than an outage: it means a
// misconfiguration or an attack, not bad weather.
func failureLevel(err error) slog.Level {
	if errors.Is(err, ErrInvalidLease) {
		return slog.LevelError
	}
	return slog.LevelWarn
}
