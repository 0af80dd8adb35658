package licenses

import (
	"net/http"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/licenses"
)

// certificateRequest is the optional body of a certificate request.
type certificateRequest struct {
	// Fingerprint binds the certificate to one machine.
	Fingerprint string `json:"fingerprint"`
}

// decodeCertificate reads the optional body: none (no Content-Length, or
// 0) asks for a certificate valid on any machine.
func decodeCertificate(w http.ResponseWriter, r *http.Request) (certificateRequest, error) {
	var req certificateRequest
	if r.ContentLength == 0 {
		return req, nil
	}
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	return req, httpjson.First(httpjson.Text("fingerprint", req.Fingerprint, false, 256))
}

// certificate signs what the license says with the root key. A tenant admin
// may ask for it: since commercial terms are the platform's alone, the
// certificate can only certify the terms the vendor set, never terms a
// tenant gave itself. With a fingerprint it is bound to that machine.
func (h *handler) certificate(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodeCertificate(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	l, err := h.store.Get(r.Context(), tenantID, licenseID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	what := certified(l)
	what.Fingerprint = req.Fingerprint
	cert, err := h.certs.Certificate(r.Context(), what)
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
