package license

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// RevocationInterval is how often a borrowed seat fetches its license's
// revocation list while it lives (±10%), besides once when it is opened.
const RevocationInterval = time.Hour

// revocationCheckTimeout bounds one background revocation check.
const revocationCheckTimeout = time.Minute

// returnOnRejectTimeout bounds the return Borrow makes of a borrow whose
// lease it rejected or could not keep.
const returnOnRejectTimeout = 5 * time.Second

type borrowRequest struct {
	SessionID string          `json:"session_id"`
	Seconds   int64           `json:"seconds"`
	DeviceKey leasejws.OKPKey `json:"device_key"`
}

type borrowResponse struct {
	Lease         string `json:"lease"`
	BorrowedUntil string `json:"borrowed_until"`
	Extended      bool   `json:"extended"`
}

type returnRequest struct {
	SessionID string `json:"session_id"`
	Proof     string `json:"proof"`
}

// borrow asks the server to borrow sessionID for d under device's key and
// verifies the lease it answers with.
func (c *client) borrow(ctx context.Context, sessionID string, d time.Duration, key ed25519.PrivateKey) (borrow, borrowResponse, error) {
	device := leasejws.DeviceJWK(key.Public().(ed25519.PublicKey))
	// Whole seconds, rounded up: a borrow is never shorter than asked.
	secs := int64((d + time.Second - 1) / time.Second)
	var resp borrowResponse
	if err := c.post(ctx, "/v1/borrow", "", borrowRequest{SessionID: sessionID, Seconds: secs, DeviceKey: device}, &resp); err != nil {
		return borrow{}, resp, err
	}
	claims, err := c.checkBorrowLease(resp.Lease, c.now(), sessionID, device)
	if err != nil {
		return borrow{}, resp, err
	}
	// The lease is what counts; an answer whose borrowed_until is not the
	// lease's exp (which has whole seconds) is not one to trust.
	until, err := time.Parse(time.RFC3339, resp.BorrowedUntil)
	if err != nil {
		return borrow{}, resp, fmt.Errorf("%w: borrowed_until %q is not an RFC 3339 time", ErrInvalidLease, resp.BorrowedUntil)
	}
	if diff := until.Sub(claims.ExpiresAt); diff < -time.Second || diff > time.Second {
		return borrow{}, resp, fmt.Errorf("%w: the borrow lease runs until %s, the answer says %s", ErrInvalidLease,
			claims.ExpiresAt.Format(time.RFC3339), resp.BorrowedUntil)
	}
	return borrow{sessionID: sessionID, token: resp.Lease, claims: claims, key: key}, resp, nil
}

// giveBackBorrow returns a borrow, proving it with the device key.
func (c *client) giveBackBorrow(ctx context.Context, sessionID string, key ed25519.PrivateKey) error {
	proof, err := leasejws.SignReturnProof(key, sessionID, c.now())
	if err != nil {
		return fmt.Errorf("license: signing the return proof: %w", err)
	}
	var resp struct {
		Returned bool `json:"returned"`
	}
	return c.post(ctx, "/v1/return", "", returnRequest{SessionID: sessionID, Proof: proof}, &resp)
}

// revocations fetches and verifies the license's revocation list.
func (c *client) revocations(ctx context.Context) (leasejws.RevocationList, error) {
	var resp struct {
		Revocations string `json:"revocations"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/licenses/revocations?license_key="+url.QueryEscape(c.key), "", nil, &resp); err != nil {
		return leasejws.RevocationList{}, err
	}
	list, err := c.verifier.VerifyRevocations(resp.Revocations, c.now())
	if err != nil {
		return leasejws.RevocationList{}, fmt.Errorf("%w: %w", ErrInvalidLease, err)
	}
	if list.LicenseID != c.licenseID {
		return leasejws.RevocationList{}, fmt.Errorf("%w: the revocation list is of another license", ErrInvalidLease)
	}
	return list, nil
}

// OpenBorrowed returns the borrowed seat cfg.BorrowFile holds, with no
// network: the lease is verified offline (pinned roots, this license and
// workstation, bound to the file's device key, not run out; see
// [ErrBorrowFile] and [ErrInvalidLease] for the refusals). The seat is
// [Seat.Valid] until the borrow ends; then Done closes with
// [ErrBorrowEnded] and the file is removed. A borrow that has already ended
// is ErrBorrowEnded, and no file at all is an error matching fs.ErrNotExist
// and [ErrNotBorrowed].
//
// In the background the seat fetches the license's revocation list at once
// and every [RevocationInterval]: when it can reach the server and the list
// names its session, the seat is over at once ([ErrSessionRevoked]) and the
// file removed. An unreachable server changes nothing: offline is what a
// borrow is for.
func OpenBorrowed(cfg Config) (*Seat, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	if c.borrowFile == "" {
		return nil, errors.New("license: OpenBorrowed needs Config.BorrowFile")
	}
	b, err := c.loadBorrow(c.now())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNotBorrowed, err)
	}
	if err != nil {
		return nil, err
	}
	return newBorrowedSeat(c, b), nil
}

// newBorrowedSeat is the seat of a verified borrow read from the file.
func newBorrowedSeat(c *client, b borrow) *Seat {
	ctx, stop := context.WithCancel(context.Background())
	s := &Seat{c: c, stop: stop, loopDone: make(chan struct{}), done: make(chan struct{}),
		changed: make(chan struct{}), closed: make(chan struct{})}
	s.mu.Lock()
	s.borrowed, s.deviceKey = true, b.key
	s.acceptLocked(grant{sessionID: b.sessionID, token: b.token, claims: b.claims})
	s.mu.Unlock()
	c.log.Info("license: borrowed seat opened", "borrowed_until", b.claims.ExpiresAt)
	go s.watchBorrow(ctx, s.loopDone, true)
	return s
}

// Borrow checks the seat out for offline use for d (whole seconds, rounded
// up; the license bounds it, max_seconds), and returns when the borrow
// ends. It needs [Config.BorrowFile].
//
// A first borrow makes a device key (Ed25519; [leasejws.NewDeviceKey]) and
// sends its public half; the server answers with a borrow lease bound to
// it, which is verified like every lease and also must say "borrow", name
// this session and this device key, and end when the answer says. The
// lease, the session id and the device private key are then written to
// BorrowFile (0600, replaced atomically), the heartbeats stop (the server
// wants none while the seat is borrowed), and Status says Borrowed until
// BorrowedUntil. From then on the seat is [Seat.Valid] until the borrow
// ends, online or not; [OpenBorrowed] (or [Acquire]) gets it back in a
// later run. Close keeps the borrow; [Seat.Return] gives it back early.
//
// Borrowing a borrowed seat again extends it: the same device key (the
// server refuses another, ErrOtherDevice) and an end that only moves
// forward, within max_seconds from now.
//
// Refusals: [ErrBorrowNotAllowed], [ErrBorrowLimit], [ErrSessionBorrowed],
// [ErrOtherDevice], [ErrSessionNotFound] (the session lapsed: the seat
// acquires again by itself; borrow after that), [ErrInvalidLease]; the seat
// is left as it was. A first borrow whose lease is rejected, or that cannot
// be written to BorrowFile, is returned to the server at once (best
// effort), so it does not hold a seat nobody can use. Borrow does not retry:
// the application decides.
func (s *Seat) Borrow(ctx context.Context, d time.Duration) (time.Time, error) {
	if s.c.borrowFile == "" {
		return time.Time{}, errors.New("license: Borrow needs Config.BorrowFile")
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("license: borrowing for %s", d)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	over, sid, key := s.over, s.sessionID, s.deviceKey
	s.mu.Unlock()
	if over {
		return time.Time{}, ErrClosed
	}
	fresh := key == nil
	if fresh {
		// The file may hold a borrow of this session made by another
		// process of the workstation (its key is the one the server
		// knows), or another live borrow, which must not be overwritten:
		// its device key is the only way to return it early.
		b, err := s.c.loadBorrow(s.c.now())
		switch {
		case err == nil && b.sessionID == sid:
			key, fresh = b.key, false
		case err == nil:
			return time.Time{}, fmt.Errorf("%w: %s holds another live borrow; return it or choose another file",
				ErrBorrowFile, s.c.borrowFile)
		case errors.Is(err, errOtherBorrow):
			return time.Time{}, fmt.Errorf("license: not overwriting %s: %w", s.c.borrowFile, err)
		}
		// Otherwise (no file, an ended borrow, a file that does not
		// verify) there is nothing in it to keep.
	}
	if key == nil {
		var err error
		if key, _, err = leasejws.NewDeviceKey(); err != nil {
			return time.Time{}, fmt.Errorf("license: %w", err)
		}
	}

	b, resp, err := s.c.borrow(ctx, sid, d, key)
	if err != nil {
		if fresh && errors.Is(err, ErrInvalidLease) && resp.Lease != "" && !resp.Extended {
			s.returnUnusable(ctx, sid, key)
		}
		return time.Time{}, fmt.Errorf("license: borrowing the seat: %w", err)
	}
	var fileErr error
	if err := s.c.writeBorrowFile(b); err != nil {
		if fresh {
			s.returnUnusable(ctx, sid, key)
			return time.Time{}, err
		}
		// An extension the server made: hold it, and say that the file
		// still holds the earlier end.
		fileErr = fmt.Errorf("license: the borrow was extended but %s still says it ends earlier: %w", s.c.borrowFile, err)
	}

	// Stop the heartbeats (or the previous borrow's watch) and watch the
	// borrow instead.
	s.mu.Lock()
	stop, loopDone := s.stop, s.loopDone
	s.mu.Unlock()
	stop()
	<-loopDone
	ctxW, stopW := context.WithCancel(context.Background())
	s.mu.Lock()
	s.borrowed, s.deviceKey = true, key
	s.acceptLocked(grant{sessionID: sid, token: b.token, claims: b.claims})
	s.stop, s.loopDone = stopW, make(chan struct{})
	go s.watchBorrow(ctxW, s.loopDone, false)
	s.mu.Unlock()
	s.c.log.Info("license: seat borrowed", "borrowed_until", b.claims.ExpiresAt, "extended", resp.Extended)
	return b.claims.ExpiresAt, fileErr
}

// returnUnusable gives back a borrow Borrow cannot keep.
func (s *Seat) returnUnusable(ctx context.Context, sid string, key ed25519.PrivateKey) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), returnOnRejectTimeout)
	defer cancel()
	if err := s.c.giveBackBorrow(ctx, sid, key); err != nil {
		s.c.log.Warn("license: returning a borrow that could not be kept", "error", err)
	}
}

// Return gives a borrowed seat back to the server before its end, with a
// return proof signed by the borrow's device key (the server takes a return
// from nobody else), then removes BorrowFile and ends the seat: Done is
// closed, Err is nil, Valid is false. When the server no longer has the
// borrow (404 session_not_found, 409 not_borrowed: it ended, or another
// process of the workstation returned it) the borrow is gone all the same:
// the file is removed, the seat ends and Return returns nil.
//
// Any other failure ([ErrInvalidProof], a network error) leaves the borrow
// as it was, file and seat: call Return again. A seat that is not borrowed
// is [ErrNotBorrowed].
func (s *Seat) Return(ctx context.Context) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	over, borrowed, sid, key := s.over, s.borrowed, s.sessionID, s.deviceKey
	s.mu.Unlock()
	switch {
	case over:
		return ErrClosed
	case !borrowed:
		return ErrNotBorrowed
	}
	err := s.c.giveBackBorrow(ctx, sid, key)
	switch {
	case err == nil:
		s.c.log.Info("license: borrowed seat returned")
	case errors.Is(err, ErrSessionNotFound) || errors.Is(err, ErrNotBorrowed):
		s.c.log.Info("license: the server no longer had the borrow", "error", err)
	default:
		return fmt.Errorf("license: returning the borrowed seat: %w", err)
	}
	// The file goes before Done closes, so whoever waits on Done finds it
	// gone.
	rerr := s.c.removeBorrowFile(sid)
	s.endBorrow(nil)
	if rerr != nil {
		return fmt.Errorf("license: the seat was returned but its file stays (delete it): %w", rerr)
	}
	return nil
}

// CheckRevocations fetches the license's revocation list and, when it
// names this borrowed seat's session, ends the seat at once: Done closes,
// Err and the returned error match [ErrSessionRevoked], and BorrowFile is
// removed. A list that cannot be fetched or does not verify
// ([ErrInvalidLease]) changes nothing: the error is returned (and shown in
// Status.LastError) and the borrow stays valid. A borrowed seat runs this
// by itself when opened and every [RevocationInterval]; a seat that is not
// borrowed is [ErrNotBorrowed] (its heartbeats learn of a revocation).
func (s *Seat) CheckRevocations(ctx context.Context) error {
	s.mu.Lock()
	over, borrowed, sid := s.over, s.borrowed, s.sessionID
	s.mu.Unlock()
	switch {
	case over:
		return ErrClosed
	case !borrowed:
		return ErrNotBorrowed
	}
	list, err := s.c.revocations(ctx)
	s.mu.Lock()
	if s.lastErr != err {
		s.lastErr = err
		s.notifyLocked()
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("license: checking revocations: %w", err)
	}
	if !list.Has(leasejws.SessionDigest(sid)) {
		return nil
	}
	err = fmt.Errorf("%w: the borrowed session is on the license's revocation list", ErrSessionRevoked)
	s.c.log.Error("license: borrowed seat revoked", "error", err)
	if rerr := s.c.removeBorrowFile(sid); rerr != nil {
		s.c.log.Warn("license: removing the borrow file of a revoked borrow", "error", rerr)
	}
	s.endBorrow(err)
	return err
}

// endBorrow ends a borrowed seat with err (nil: returned). The watch is
// stopped unless it is the caller.
func (s *Seat) endBorrow(err error) {
	s.finish(err)
	s.mu.Lock()
	stop := s.stop
	s.mu.Unlock()
	stop()
}

// watchBorrow looks after a borrowed seat until ctx ends: it ends the seat
// when the borrow runs out (unless another process of the workstation
// extended it: the file then holds the later end, which is taken) and
// checks the revocation list every RevocationInterval, at once when
// checkNow is set.
func (s *Seat) watchBorrow(ctx context.Context, loopDone chan struct{}, checkNow bool) {
	defer close(loopDone)
	s.borrowLoop(ctx, checkNow)
}

func (s *Seat) borrowLoop(ctx context.Context, checkNow bool) {
	end := time.NewTimer(s.borrowLeft())
	defer end.Stop()
	first := jittered(RevocationInterval)
	if checkNow {
		first = 0
	}
	check := time.NewTimer(first)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			if !s.borrowRanOut() {
				return
			}
			end.Reset(s.borrowLeft())
		case <-check.C:
			cctx, cancel := context.WithTimeout(ctx, revocationCheckTimeout)
			err := s.CheckRevocations(cctx)
			cancel()
			switch {
			case errors.Is(err, ErrSessionRevoked) || errors.Is(err, ErrClosed):
				return
			case err != nil && ctx.Err() == nil:
				s.c.log.Warn("license: checking revocations failed; the borrow stays valid", "error", err)
			}
			check.Reset(jittered(RevocationInterval))
		}
	}
}

// borrowLeft is how long the borrow has left by the Config's clock.
func (s *Seat) borrowLeft() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(s.claims.ExpiresAt.Sub(s.c.now()), 0) + time.Millisecond
}

// borrowRanOut is called when the borrow's end timer fires. It reports
// whether the seat goes on: the end is not reached yet by the Config's
// clock, or the file holds a later end of the same session (another process
// extended it). Otherwise the seat ends with ErrBorrowEnded and the file
// goes.
func (s *Seat) borrowRanOut() bool {
	now := s.c.now()
	s.mu.Lock()
	sid, end := s.sessionID, s.claims.ExpiresAt
	s.mu.Unlock()
	if now.Before(end) {
		return true
	}
	if b, err := s.c.loadBorrow(now); err == nil && b.sessionID == sid && b.claims.ExpiresAt.After(end) {
		s.mu.Lock()
		s.deviceKey = b.key
		s.acceptLocked(grant{sessionID: sid, token: b.token, claims: b.claims})
		s.mu.Unlock()
		s.c.log.Info("license: borrow extended by another process", "borrowed_until", b.claims.ExpiresAt)
		return true
	}
	err := fmt.Errorf("%w at %s", ErrBorrowEnded, end.Format(time.RFC3339))
	s.c.log.Info("license: borrow ended", "borrowed_until", end)
	if rerr := s.c.removeBorrowFile(sid); rerr != nil {
		s.c.log.Warn("license: removing the borrow file of an ended borrow", "error", rerr)
	}
	s.finish(err)
	return false
}

// adoptBorrow takes over the borrow of the seat's session that the borrow
// file holds, when a heartbeat says the session is borrowed (another
// process of the workstation borrowed the seat they share). It reports
// whether it did.
func (s *Seat) adoptBorrow(sid string) bool {
	if s.c.borrowFile == "" {
		return false
	}
	b, err := s.c.loadBorrow(s.c.now())
	if err != nil || b.sessionID != sid {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over {
		return false
	}
	s.borrowed, s.deviceKey = true, b.key
	s.acceptLocked(grant{sessionID: sid, token: b.token, claims: b.claims})
	s.c.log.Info("license: seat borrowed by another process of this workstation; holding the borrow",
		"borrowed_until", b.claims.ExpiresAt)
	return true
}

// jittered is d ±10%.
func jittered(d time.Duration) time.Duration {
	return d - d/10 + rand.N(d/5+1)
}
