package license_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/lease"
)

// The fake's borrow endpoints, following the server's contract: POST
// /v1/borrow, POST /v1/return (checking the device's proof with
// leasejws.VerifyReturnProof, each proof once) and GET
// /v1/licenses/revocations.

func (f *fakeAPI) borrow(w http.ResponseWriter, _ *http.Request, raw []byte) {
	var req borrowReq
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.SessionID == "" || req.DeviceKey == nil ||
		(req.Seconds == nil) == (req.Until == nil) {
		writeErr(w, http.StatusBadRequest, "invalid_request", 0)
		return
	}
	if _, err := req.DeviceKey.Ed25519(); err != nil || req.DeviceKey.Kid != "" {
		writeErr(w, http.StatusBadRequest, "invalid_request", 0)
		return
	}
	now := time.Now()
	var end time.Time
	if req.Seconds != nil {
		end = now.Add(time.Duration(*req.Seconds) * time.Second)
	} else {
		t, err := time.Parse(time.RFC3339, *req.Until)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "invalid_request", 0)
			return
		}
		end = t
	}
	// The lease's exp has whole seconds: so has the end.
	end = end.Truncate(time.Second)

	f.mu.Lock()
	defer f.mu.Unlock()
	f.borrowReqs = append(f.borrowReqs, req)
	s, ok := f.sessions[req.SessionID]
	switch {
	case f.borrowOff:
		writeErr(w, http.StatusForbidden, "borrow_not_allowed", 0)
		return
	case !ok || !s.exp.After(now):
		writeErr(w, http.StatusNotFound, "session_not_found", 0)
		return
	case s.device != nil && s.device.X != req.DeviceKey.X:
		writeErr(w, http.StatusConflict, "other_device", 0)
		return
	case !end.After(now) || end.Sub(now) > f.maxBorrow:
		writeErr(w, http.StatusBadRequest, "invalid_request", 0)
		return
	}
	extended := s.device != nil
	if extended && end.Before(s.exp) {
		end = s.exp // an extension only moves the end forward
	}
	dk := *req.DeviceKey
	s.device, s.exp = &dk, end

	c := lease.Claims{SessionDigest: leasejws.SessionDigest(req.SessionID), LicenseID: f.licenseID, TenantID: f.tenantID,
		Fingerprint: s.fp, ExpiresAt: end, Borrow: true, Confirmation: &dk}
	signer := f.borrower
	until := end
	switch f.badBorrow {
	case borrowNotBorrow:
		c.Borrow, c.Confirmation = false, nil
	case borrowOtherDevice:
		_, other, err := leasejws.NewDeviceKey()
		if err != nil {
			f.t.Error(err)
		}
		c.Confirmation = &other
	case borrowUntilMismatch:
		until = end.Add(time.Hour)
	case borrowUnpinned:
		signer = f.rogueBorrower
	case borrowOtherSession:
		c.SessionDigest = leasejws.SessionDigest(req.SessionID + "x")
	case borrowOtherFP:
		c.Fingerprint = otherFingerprint
	}
	var tok string
	var err error
	switch f.badBorrow {
	case borrowNotBorrow:
		// The root signs only borrow leases: this one is an ordinary
		// lease, as the acquire answer's.
		tok, err = f.signer.Lease(c)
	case borrowDelegated:
		tok = delegatedBorrowLease(f.t, c)
	default:
		tok, err = signer.Lease(context.Background(), c)
	}
	if err != nil {
		f.t.Errorf("signing a borrow lease: %v", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"lease": tok, "borrowed_until": until.UTC().Format(time.RFC3339), "extended": extended})
}

// delegatedBorrowLease is c signed as an ordinary lease is, EdDSA by a
// delegated key under a delegation the pinned root really signed and valid
// now, though it says "borrow": true and names a device key: what anyone
// holding a server instance's delegated key could sign. (lease.Signer
// refuses such claims, so it is made by hand.)
func delegatedBorrowLease(t *testing.T, c lease.Claims) string {
	pinned, _ := roots()
	claims := jwt.MapClaims{"iss": testIssuer, "sub": c.SessionDigest, "lic": c.LicenseID, "ten": c.TenantID,
		"fpr": c.Fingerprint, "exp": c.ExpiresAt.Unix(), "borrow": c.Borrow}
	if c.Confirmation != nil {
		claims["cnf"] = map[string]any{"jwk": *c.Confirmation}
	}
	return forgedLease(t, pinned, leasejws.DelegationType, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), claims)
}

// giveBack is POST /v1/return.
func (f *fakeAPI) giveBack(w http.ResponseWriter, _ *http.Request, body map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := body["session_id"]
	s, ok := f.sessions[id]
	now := time.Now()
	switch {
	case !ok || !s.exp.After(now):
		writeErr(w, http.StatusNotFound, "session_not_found", 0)
		return
	case s.device == nil:
		writeErr(w, http.StatusConflict, "not_borrowed", 0)
		return
	}
	proofID, err := leasejws.VerifyReturnProof(body["proof"], *s.device, id, now)
	if err != nil || f.proofsSeen[proofID] {
		if err == nil {
			err = errors.New("replayed")
		}
		f.t.Logf("fake: return proof refused: %v", err)
		writeErr(w, http.StatusForbidden, "invalid_proof", 0)
		return
	}
	f.proofsSeen[proofID] = true
	delete(f.sessions, id)
	f.returned++
	writeJSON(w, http.StatusOK, map[string]bool{"returned": true})
}

// revocations is GET /v1/licenses/revocations.
func (f *fakeAPI) revocations(w http.ResponseWriter, r *http.Request, _ []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Query().Get("license_key") != f.key || f.deleted {
		writeErr(w, http.StatusNotFound, "license_not_found", 0)
		return
	}
	signer := f.signer
	if f.badRevocations {
		signer = f.rogue
	}
	tok, err := signer.Revocations(f.licenseID, f.revokedBorrows, time.Now())
	if err != nil {
		f.t.Errorf("signing revocations: %v", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"revocations": tok})
}

// revokeBorrow makes the revocation list name the session.
func (f *fakeAPI) revokeBorrow(sessionID string) {
	f.set(func(f *fakeAPI) { f.revokedBorrows = append(f.revokedBorrows, leasejws.SessionDigest(sessionID)) })
}

// borrowedBy is the device key a session is borrowed under, nil if none.
func (f *fakeAPI) borrowedBy(sessionID string) *leasejws.OKPKey {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sessions[sessionID]; ok {
		return s.device
	}
	return nil
}

func (f *fakeAPI) returns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.returned
}
