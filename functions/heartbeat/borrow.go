package heartbeat

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Borrowing lives with the heartbeat: a borrow is what a live session asks
// for instead of its next heartbeat, and the function already reaches the
// session's Redis and holds the signing keys. Borrow leases are signed by
// the root itself (lease.BorrowSigner says why), return proofs by the
// device, and the revocation list by the instance's delegated key.

// Paths of the borrow routes.
const (
	BorrowPath      = "/v1/borrow"
	ReturnPath      = "/v1/return"
	RevocationsPath = "/v1/licenses/revocations"
)

// maxBorrowSeconds bounds "seconds" before the license's own max_seconds
// is asked: no policy allows more than a borrow lease may run.
const maxBorrowSeconds = int64(lease.MaxBorrow / time.Second)

type borrowRequest struct {
	SessionID string `json:"session_id"`
	// Exactly one of Seconds (from now) and Until (an RFC 3339 instant).
	Seconds *int64  `json:"seconds"`
	Until   *string `json:"until"`
	// DeviceKey is the public half of the key pair the client made for
	// this borrow: only a proof it signs returns the seat early.
	DeviceKey *leasejws.OKPKey `json:"device_key"`
}

type borrowResponse struct {
	SessionID     string `json:"session_id"`
	Lease         string `json:"lease"`
	BorrowedUntil string `json:"borrowed_until"`
	Extended      bool   `json:"extended"`
	SeatClass     string `json:"seat_class"`
}

type returnRequest struct {
	SessionID string `json:"session_id"`
	Proof     string `json:"proof"`
}

// decodeBorrow reads a borrow request: the session, exactly one of seconds
// and until, and a device key that is an Ed25519 public key in its one JWK
// form (no kid: a device key is named by nothing but itself).
func decodeBorrow(w http.ResponseWriter, r *http.Request, now time.Time) (seats.BorrowRequest, error) {
	var req borrowRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return seats.BorrowRequest{}, err
	}
	if err := httpjson.First(httpjson.Text("session_id", req.SessionID, true, 128)); err != nil {
		return seats.BorrowRequest{}, err
	}
	out := seats.BorrowRequest{SessionID: req.SessionID}
	switch {
	case (req.Seconds == nil) == (req.Until == nil):
		return out, httpjson.Invalid(`exactly one of "seconds" and "until" is required`)
	case req.Seconds != nil:
		if *req.Seconds < 1 || *req.Seconds > maxBorrowSeconds {
			return out, httpjson.Invalid(`field "seconds" must be from 1 to %d`, maxBorrowSeconds)
		}
		out.Seconds = *req.Seconds
	default:
		until, err := time.Parse(time.RFC3339, *req.Until)
		if err != nil {
			return out, httpjson.Invalid(`field "until" must be an RFC 3339 time`)
		}
		if !until.After(now) {
			return out, httpjson.Invalid(`field "until" must be in the future`)
		}
		out.Until = until
	}
	if req.DeviceKey == nil {
		return out, httpjson.Invalid(`field "device_key" is required`)
	}
	pub, err := req.DeviceKey.Ed25519()
	if err != nil || req.DeviceKey.Kid != "" {
		return out, httpjson.Invalid(`field "device_key" must be an Ed25519 public key as an OKP JWK (kty, crv, x; no kid)`)
	}
	key, err := json.Marshal(leasejws.DeviceJWK(pub))
	if err != nil {
		return out, err
	}
	out.DeviceKey = string(key)
	return out, nil
}

func (h *handler) borrow(w http.ResponseWriter, r *http.Request) {
	req, err := decodeBorrow(w, r, time.Now())
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	b, err := h.engine.Borrow(r.Context(), req)
	if err != nil {
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	var device leasejws.OKPKey
	if err := json.Unmarshal([]byte(req.DeviceKey), &device); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	signed, err := h.borrower.Lease(r.Context(), lease.Claims{SessionDigest: b.SessionDigest, LicenseID: b.LicenseID,
		TenantID: b.TenantID, Fingerprint: b.Fingerprint, ExpiresAt: b.ExpiresAt, Overage: b.SeatClass == seats.SeatOverage,
		Borrow: true, Confirmation: &device})
	if err != nil {
		// The seat is borrowed but the client has no lease for it: it asks
		// again (an extension to the same end, answered with a lease) or
		// returns it.
		httpjson.WriteError(w, r, apierror.CannotSign(err))
		return
	}
	httpjson.Write(w, http.StatusOK, borrowResponse{SessionID: b.SessionID, Lease: signed,
		BorrowedUntil: b.ExpiresAt.UTC().Format(time.RFC3339), Extended: b.Extended, SeatClass: b.SeatClass})
}

// giveBack is POST /v1/return: the device's proof, checked against the key
// the session was borrowed under, frees the seat at once.
func (h *handler) giveBack(w http.ResponseWriter, r *http.Request) {
	var req returnRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if err := httpjson.First(httpjson.Text("session_id", req.SessionID, true, 128),
		httpjson.Text("proof", req.Proof, true, leasejws.MaxReturnProofSize)); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	stored, err := h.engine.BorrowedBy(r.Context(), req.SessionID)
	if err != nil {
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	var device leasejws.OKPKey
	if err := json.Unmarshal([]byte(stored), &device); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	now := time.Now()
	proofID, err := leasejws.VerifyReturnProof(req.Proof, device, req.SessionID, now)
	if err != nil {
		httpjson.WriteError(w, r, invalidProof())
		return
	}
	// The proof is remembered for as long as it could be accepted, so it
	// is never taken twice; the script also checks that the session is
	// still borrowed under the key the proof was checked against.
	err = h.engine.Return(r.Context(), req.SessionID, stored, proofID, now.Add(leasejws.ReturnProofReplayTTL))
	switch {
	case errors.Is(err, seats.ErrProofUsed):
		httpjson.WriteError(w, r, invalidProof())
		return
	case err != nil:
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]bool{"returned": true})
}

func invalidProof() error {
	return httpjson.Errorf(http.StatusForbidden, "invalid_proof",
		"the proof is not a return proof of this session signed by the device key it was borrowed under, is too old, or was used before")
}

// revocations is GET /v1/licenses/revocations?license_key=…: the signed
// list of the license's revoked borrowed sessions, for borrowing clients to
// check whenever they are online. The key, not an admin, asks: a client
// holds nothing else.
func (h *handler) revocations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	key := q.Get("license_key")
	for name := range q {
		if name != "license_key" {
			httpjson.WriteError(w, r, httpjson.Invalid("unknown query parameter %q", name))
			return
		}
	}
	if err := httpjson.First(httpjson.Text("license_key", key, true, 256)); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	licenseID, _, err := tokens.ParseLicenseKey(key)
	if err != nil {
		// A key that cannot be one of ours is as unknown as a wrong one.
		httpjson.WriteError(w, r, apierror.LicenseNotFound())
		return
	}
	digests, err := h.engine.RevokedBorrows(r.Context(), licenseID, key)
	if err != nil {
		httpjson.WriteError(w, r, apierror.Seats(err))
		return
	}
	signed, err := h.signer.Revocations(licenseID, digests, time.Now())
	if err != nil {
		httpjson.WriteError(w, r, apierror.CannotSign(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpjson.Write(w, http.StatusOK, map[string]string{"revocations": signed})
}
