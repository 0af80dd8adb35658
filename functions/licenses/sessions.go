package licenses

import (
	"context"
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Audit actions of the session controls (they change no row, so no
// trigger records them).
const (
	actionRevokeSession = "session.revoke"
	actionRevokeAll     = "license.revoke_sessions"
)

// sessionNotFound is the answer for a session that is not live (or never
// was): the same whatever the reason, so the digest of another license's
// session tells nothing.
func sessionNotFound() *httpjson.Error { return httpjson.NotFound("session_not_found", "session") }

// endSession ends one live session of a license, named by its digest:
// admins only ever see digests (the id is its holder's credential). The
// seat is free at once, the ledger records the session revoked by the
// caller, and its next heartbeat answers 403 session_revoked.
func (h *handler) endSession(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	digest := r.PathValue("session_digest")
	if !tokens.IsSessionDigest(digest) {
		httpjson.WriteError(w, r, sessionNotFound())
		return
	}
	// ids has authorised the caller already.
	p, _ := auth.FromContext(r.Context())
	// The license is read under the tenant's scope first: another tenant's
	// license is not found, whatever digest is named.
	if _, err := h.store.Get(r.Context(), tenantID, licenseID); err != nil {
		h.fail(w, r, err)
		return
	}
	err = h.store.Audited(r.Context(), tenantID, actionRevokeSession, "session", digest,
		func(ctx context.Context) (map[string]any, error) {
			return map[string]any{"license_id": licenseID}, h.engine.Revoke(ctx, licenseID, digest, p.Actor)
		})
	if errors.Is(err, seats.ErrSessionNotFound) {
		err = sessionNotFound()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeAll ends every live session of a license at once (incident
// response): each client must acquire again, which also resets the
// per-user bindings. A replay of the same Idempotency-Key is answered from
// the stored answer and ends nothing more.
func (h *handler) revokeAll(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	// ids has authorised the caller already.
	p, _ := auth.FromContext(r.Context())
	if _, err := h.store.Get(r.Context(), tenantID, licenseID); err != nil {
		h.fail(w, r, err)
		return
	}
	var n int
	err = h.store.Audited(r.Context(), tenantID, actionRevokeAll, "license", licenseID,
		func(ctx context.Context) (map[string]any, error) {
			var err error
			n, err = h.engine.RevokeAll(ctx, licenseID, p.Actor)
			return map[string]any{"revoked": n}, err
		})
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]int{"revoked": n})
}
