package seats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/coditect-ai/license-server/shared/tokens"
)

// BorrowPolicy is a license's offline-checkout policy: a live session may be
// turned into a borrowed one, which holds its seat with no heartbeat until
// the borrow's end (License.Borrow; nil: borrowing off).
type BorrowPolicy struct {
	// MaxSeconds bounds a borrow's end: at most this long after the borrow
	// (or its extension), by the Redis clock.
	MaxSeconds int `json:"max_seconds"`
	// MaxConcurrent is how many seats may be borrowed at once (0: all).
	MaxConcurrent int `json:"max_concurrent"`
	// MinOnlineSeats is how many seats borrowing must leave to online
	// users.
	MinOnlineSeats int `json:"min_online_seats"`
}

// Bounds of BorrowPolicy.MaxSeconds, and its default, as the API states
// them: at least an hour, at most 90 days, a week unless said.
const (
	BorrowMinSeconds     = 3600
	BorrowMaxSeconds     = 90 * 24 * 3600
	BorrowDefaultSeconds = 7 * 24 * 3600
)

// fields are the policy as the seat scripts read it from meta (see Borrow
// in lua/common.lua); a nil policy writes bms 0, which turns borrowing off
// for new borrows (borrowed seats keep theirs).
func (p *BorrowPolicy) fields() []any {
	if p == nil {
		return []any{"bms", 0, "bmc", 0, "bmo", 0}
	}
	return []any{"bms", p.MaxSeconds, "bmc", p.MaxConcurrent, "bmo", p.MinOnlineSeats}
}

// Errors of borrowing, which the API maps to its answers (shared/apierror).
var (
	// ErrBorrowNotAllowed: the license's policy does not borrow.
	ErrBorrowNotAllowed = errors.New("borrowing not allowed by the license")
	// ErrSessionBorrowed: the session is borrowed, so it cannot be
	// resumed, heartbeated or released; only a return ends it early.
	ErrSessionBorrowed = errors.New("session borrowed")
	// ErrNotBorrowed: a return of a live session that is not borrowed.
	ErrNotBorrowed = errors.New("session not borrowed")
	// ErrOtherDevice: the session is borrowed under another device key.
	ErrOtherDevice = errors.New("session borrowed by another device")
	// ErrProofUsed: the return proof was already used.
	ErrProofUsed = errors.New("return proof already used")
	// ErrBorrowLimit is matched by BorrowLimitError.
	ErrBorrowLimit = errors.New("borrow limit reached")
	// ErrInvalidBorrowEnd: the end asked is not after now.
	ErrInvalidBorrowEnd = errors.New("borrow end not in the future")
)

// BorrowLimitError: one more borrowed seat would exceed the policy's
// max_concurrent or leave fewer than min_online_seats. It matches
// ErrBorrowLimit.
type BorrowLimitError struct{ Borrowed, MaxConcurrent, MinOnlineSeats, Seats int }

func (e *BorrowLimitError) Error() string {
	return fmt.Sprintf("%d of the %d seats are borrowed, the most the policy allows (max_concurrent %d, min_online_seats %d)",
		e.Borrowed, e.Seats, e.MaxConcurrent, e.MinOnlineSeats)
}

// Is makes errors.Is(err, ErrBorrowLimit) true.
func (e *BorrowLimitError) Is(target error) bool { return target == ErrBorrowLimit }

// BorrowTooLongError: the end asked is past now + MaxSeconds.
type BorrowTooLongError struct{ MaxSeconds int }

func (e *BorrowTooLongError) Error() string {
	return fmt.Sprintf("a borrow may end at most %d seconds from now", e.MaxSeconds)
}

// BorrowRequest turns a live session into a borrowed one.
type BorrowRequest struct {
	SessionID string
	// Until is the end asked, truncated to whole seconds: after now and at
	// most now + MaxSeconds by the Redis clock; a borrow never outlives
	// its license, so it is capped at the license's expiry.
	Until time.Time
	// Seconds, when not 0, asks for an end this many seconds from now by
	// the Redis clock instead (truncated to whole seconds), so a client
	// asking for exactly max_seconds is never refused for the clocks of
	// two machines; Until is then ignored.
	Seconds int64
	// DeviceKey is the device's public key (a JWK as JSON, canonicalised
	// by the caller), stored and compared verbatim: the return proof is
	// checked against it.
	DeviceKey string
}

// Borrow is a borrowed seat. Its Grant's ExpiresAt is the borrow's end.
type Borrow struct {
	Grant
	// Extended: the session was already borrowed under this device key;
	// the end only moved forward (never back).
	Extended bool
}

// maxDeviceKey and maxProofID bound what one session's info and the proofs'
// set hold in Redis; an Ed25519 JWK is about 100 bytes, a JWS id far less.
const (
	maxDeviceKey = 2048
	maxProofID   = 256
)

// Borrow turns a live session into a borrowed one, or extends its borrow
// (see Borrow in lua/common.lua): every rule is checked in one script, so
// concurrent borrows cannot exceed the policy's limits.
func (e *Engine) Borrow(ctx context.Context, req BorrowRequest) (Borrow, error) {
	licenseID, _, err := tokens.ParseSessionID(req.SessionID)
	if err != nil {
		return Borrow{}, ErrSessionNotFound
	}
	if req.DeviceKey == "" || len(req.DeviceKey) > maxDeviceKey {
		return Borrow{}, fmt.Errorf("borrow: device key of %d bytes", len(req.DeviceKey))
	}
	until := req.Until.Truncate(time.Second)
	switch {
	case req.Seconds < 0:
		return Borrow{}, fmt.Errorf("borrow for %d seconds: %w", req.Seconds, ErrInvalidBorrowEnd)
	case req.Seconds > 0:
		until = time.Time{}
	case until.IsZero() || until.UnixMilli() <= 0:
		return Borrow{}, fmt.Errorf("borrow until %v: %w", req.Until, ErrInvalidBorrowEnd)
	}
	digest := tokens.SessionDigest(req.SessionID)
	k := e.keys(licenseID)
	res, err := e.runWithMeta(ctx, licenseID, e.scripts.borrow,
		[]string{k.meta, k.live, k.info, k.events, k.bw, k.rb, k.ov}, digest, max(until.UnixMilli(), 0), req.DeviceKey, req.Seconds)
	if errors.Is(err, ErrLicenseNotFound) {
		return Borrow{}, ErrSessionNotFound
	}
	if err != nil {
		return Borrow{}, err
	}
	var refusal error
	var b Borrow
	switch res.status {
	case "borrowed", "extended":
		b = Borrow{Grant: Grant{
			SessionID:     req.SessionID,
			SessionDigest: digest,
			LicenseID:     licenseID,
			ExpiresAt:     time.UnixMilli(res.int(1)).UTC(),
			TenantID:      res.str(2),
			Fingerprint:   res.str(3),
			SeatClass:     seatClass(&res, 4),
		}, Extended: res.status == "extended"}
	case "not_found":
		refusal = ErrSessionNotFound
	case "inactive":
		refusal = ErrLicenseInactive
	case "not_allowed":
		refusal = ErrBorrowNotAllowed
	case "revoked":
		refusal = ErrSessionRevoked
	case "bad_end":
		refusal = fmt.Errorf("borrow until %v: %w", until, ErrInvalidBorrowEnd)
	case "too_long":
		refusal = &BorrowTooLongError{MaxSeconds: int(res.int(1))}
	case "other_device":
		refusal = ErrOtherDevice
	case "borrow_limit":
		refusal = &BorrowLimitError{Borrowed: int(res.int(1)), MaxConcurrent: int(res.int(2)),
			MinOnlineSeats: int(res.int(3)), Seats: int(res.int(4))}
	default:
		return Borrow{}, res.unexpected()
	}
	// After the statements that read the values (see acquireReply).
	if res.err != nil {
		return Borrow{}, res.err
	}
	return b, refusal
}

// BorrowedBy returns the device key (as stored) a live borrowed session is
// borrowed under, for the caller to verify a return proof against:
// ErrSessionNotFound when the session is not live, ErrNotBorrowed when it
// is not borrowed.
func (e *Engine) BorrowedBy(ctx context.Context, sessionID string) (string, error) {
	licenseID, _, err := tokens.ParseSessionID(sessionID)
	if err != nil {
		return "", ErrSessionNotFound
	}
	k := e.keys(licenseID)
	raw, err := e.scripts.borrowedBy.Run(ctx, e.rdb, []string{k.live, k.info}, tokens.SessionDigest(sessionID)).Slice()
	if err != nil {
		return "", fmt.Errorf("%s script: %w", e.scripts.borrowedBy.name, err)
	}
	res := parseResult(e.scripts.borrowedBy.name, raw)
	switch res.status {
	case "ok":
		key := res.str(1)
		if res.err != nil {
			return "", res.err
		}
		return key, nil
	case "not_found":
		return "", ErrSessionNotFound
	case "not_borrowed":
		return "", ErrNotBorrowed
	}
	return "", res.unexpected()
}

// proofSkew is how much longer than the proof's own expiry its id is
// remembered: the proof's expiry is checked by the caller's clock, the
// memory kept by Redis's, and a Redis clock ahead of the caller's must not
// forget the id while the caller still accepts the proof.
const proofSkew = 5 * time.Minute

// Return frees a borrowed session's seat at once (no linger applies): the
// session must still be borrowed under deviceKey (else ErrOtherDevice), and
// proofID must not have freed a seat before (ErrProofUsed, also once the
// session is gone; the id is remembered until proofExpires). The ledger
// records returned, and an entitled seat freed promotes the oldest overage
// session.
func (e *Engine) Return(ctx context.Context, sessionID, deviceKey, proofID string, proofExpires time.Time) error {
	licenseID, _, err := tokens.ParseSessionID(sessionID)
	if err != nil {
		return ErrSessionNotFound
	}
	if proofID == "" || len(proofID) > maxProofID {
		return fmt.Errorf("return: proof id of %d bytes", len(proofID))
	}
	if proofExpires.IsZero() {
		return errors.New("return: proof without an expiry")
	}
	k := e.keys(licenseID)
	raw, err := e.scripts.returnBorrow.Run(ctx, e.rdb, []string{k.live, k.info, k.users, k.events, k.ov, k.meta, k.bw, k.rb, k.rp},
		tokens.SessionDigest(sessionID), deviceKey, proofID, proofExpires.Add(proofSkew).UnixMilli()).Slice()
	if err != nil {
		return fmt.Errorf("%s script: %w", e.scripts.returnBorrow.name, err)
	}
	res := parseResult(e.scripts.returnBorrow.name, raw)
	switch res.status {
	case "returned":
		return nil
	case "proof_used":
		return ErrProofUsed
	case "not_found":
		return ErrSessionNotFound
	case "not_borrowed":
		return ErrNotBorrowed
	case "other_device":
		return ErrOtherDevice
	}
	return res.unexpected()
}

// RevokedBorrows returns the digests, sorted, of the license's borrowed
// sessions an admin revoked whose borrow has not ended: what the signed
// revocation list names. licenseKey opens it as it opens an acquire (the
// license's key, or the previous one within a rotation's grace); an unknown
// license or a wrong key is ErrLicenseNotFound.
func (e *Engine) RevokedBorrows(ctx context.Context, licenseID, licenseKey string) ([]string, error) {
	if !tokens.ValidUUID(licenseID) || licenseKey == "" {
		return nil, fmt.Errorf("revoked borrows: %w", ErrLicenseNotFound)
	}
	k := e.keys(licenseID)
	res, err := e.runWithMeta(ctx, licenseID, e.scripts.revokedBorrows, []string{k.meta, k.rb, k.unknown},
		tokens.Hash(licenseKey))
	if err != nil {
		return nil, err
	}
	switch res.status {
	case "ok":
		out := make([]string, 0, len(res.vals)-1)
		for i := 1; i < len(res.vals); i++ {
			out = append(out, res.str(i))
		}
		if res.err != nil {
			return nil, res.err
		}
		slices.Sort(out)
		return out, nil
	case "not_found":
		return nil, ErrLicenseNotFound
	}
	return nil, res.unexpected()
}

// borrowedUntil reads a ledger entry's bu (ms).
func borrowedUntil(v string) time.Time {
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
