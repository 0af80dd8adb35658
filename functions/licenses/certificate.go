package licenses

import (
	"net/http"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/licenses"
)

// certificate signs what the license says with the root key. A tenant admin
// may ask for it: since commercial terms are the platform's alone, the
// certificate can only certify the terms the vendor set, never terms a
// tenant gave itself.
func (h *handler) certificate(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	l, err := h.store.Get(r.Context(), tenantID, licenseID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cert, err := h.certs.Certificate(r.Context(), certified(l))
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"certificate": cert})
}

// certified is what l's certificate states.
func certified(l licenses.License) lease.License {
	return lease.License{ID: l.ID, TenantID: l.TenantID, Product: l.Product, Seats: l.Seats,
		LeaseTTLSeconds: l.LeaseTTLSeconds, Status: l.Status, ExpiresAt: l.ExpiresAt, RequireUser: l.RequireUser,
		MaxSeatsPerUser: l.MaxSeatsPerUser, Leasing: l.Leasing, TenantStatus: l.TenantStatus(), UpdatedAt: l.UpdatedAt}
}
