package licenses

import (
	"errors"
	"net/http"
	"time"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/logging"
)

// rotateRequest is the body of rotate-key; it may be absent (no grace).
type rotateRequest struct {
	GraceSeconds *int `json:"grace_seconds"`
}

// decodeRotate reads the optional body; its errors are *httpjson.Error.
func decodeRotate(w http.ResponseWriter, r *http.Request) (time.Duration, error) {
	var req rotateRequest
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return 0, nil
	}
	if err := httpjson.Decode(w, r, &req); err != nil {
		return 0, err
	}
	if req.GraceSeconds == nil {
		return 0, nil
	}
	max := int(licenses.MaxKeyGrace / time.Second)
	if *req.GraceSeconds < 0 || *req.GraceSeconds > max {
		return 0, httpjson.Invalid(`field "grace_seconds" must be between 0 and %d`, max)
	}
	return time.Duration(*req.GraceSeconds) * time.Second, nil
}

// rotatedLicense is the answer to rotate-key: the license, its new key
// (shown this once) and until when the replaced key still opens it.
type rotatedLicense struct {
	license
	PreviousKeyExpiresAt string `json:"previous_key_expires_at"`
}

// rotateKey gives a license a new key for a leaked one. The old key keeps
// opening the license for acquires for grace_seconds (by Redis's clock,
// written through with the license), then answers license_not_found; live
// sessions keep heartbeating (their ids do not depend on the key from then
// on). Audited as license.rotate_key by the trigger, without either hash.
func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	grace, err := decodeRotate(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	l, key, err := h.store.RotateKey(r.Context(), tenantID, licenseID, grace)
	if err == nil {
		// The change is committed: a Redis that cannot take it is a 503 to
		// retry. A retry rotates again (the key of this answer is lost
		// with it), which is what the admin wants of a leaked key.
		err = h.licensing.SyncLicense(r.Context(), l)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	used, err := h.engine.Count(r.Context(), []string{l.ID})
	if err != nil {
		// The rotation is done; the seat count is only informative.
		logging.RecordError(r.Context(), err)
	}
	out := rotatedLicense{license: view(l, used[l.ID])}
	out.Key = key
	if l.PreviousKeyExpiresAt == nil {
		httpjson.WriteError(w, r, errors.New("rotated license without a previous key expiry"))
		return
	}
	out.PreviousKeyExpiresAt = httpjson.Time(*l.PreviousKeyExpiresAt)
	httpjson.Write(w, http.StatusOK, out)
}
