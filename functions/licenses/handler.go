// Package licenses is the Licenses function: the platform creates a tenant's
// licenses (the key is shown once), changes their commercial terms (seats,
// status, expiry, the lease TTL ceiling, the overage policy) and deletes them; the tenant's admins
// read them with their live seat count, choose how the seats are used
// (require_user, max_seats_per_user, max_instances_per_seat, linger_seconds,
// revive_seconds, leasing, lease TTL up to the ceiling), ask for certificates
// and list live sessions. Every change is written through to the seat store.
package licenses

import (
	"errors"
	"net/http"
	"time"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Licenses"

// New returns the function.
func New(authn *auth.Authenticator, store *licenses.Store, lic *licensing.Service, engine *seats.Engine,
	certs *lease.Certifier) (route.Function, error) {
	if authn == nil || store == nil || lic == nil || engine == nil || certs == nil || certs.Root == nil {
		return route.Function{}, errors.New("licenses: missing dependency")
	}
	h := &handler{store: store, licensing: lic, engine: engine, certs: certs, now: time.Now}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/licenses", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:  h.list,
			http.MethodPost: h.create,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/licenses/{license_id}", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:    h.get,
			http.MethodPatch:  h.patch,
			http.MethodDelete: h.delete,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/licenses/{license_id}/sessions", Methods: authn.RequireAll(route.Methods{
			http.MethodGet: h.sessions,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/licenses/{license_id}/certificate", Methods: authn.RequireAll(route.Methods{
			http.MethodPost: h.certificate,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/licenses/{license_id}/sessions/{session_digest}", Methods: authn.RequireAll(route.Methods{
			http.MethodDelete: h.endSession,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/licenses/{license_id}/sessions:revoke-all", Methods: authn.RequireAll(route.Methods{
			http.MethodPost: h.revokeAll,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/licenses/{license_id}/rotate-key", Methods: authn.RequireAll(route.Methods{
			http.MethodPost: h.rotateKey,
		})},
	}}, nil
}

type handler struct {
	store     *licenses.Store
	licensing *licensing.Service
	engine    *seats.Engine
	certs     *lease.Certifier
	now       func() time.Time
}

// ids reads the tenant and (when the route has one) license ids from the
// path and checks the caller may act on the tenant with role need.
func ids(r *http.Request, need auth.Role) (tenantID, licenseID string, err error) {
	tenantID, _, err = auth.Tenant(r, need)
	if err != nil {
		return "", "", err
	}
	if r.PathValue("license_id") != "" {
		if licenseID, err = auth.PathID(r, "license_id", "license_not_found", "license"); err != nil {
			return "", "", err
		}
	}
	return tenantID, licenseID, nil
}

// platform reports whether the caller acts for the platform. Commercial
// terms are the vendor's: a tenant's admin (or an API key it made) setting
// its own seats or expiry would be a customer giving itself the product.
func platform(r *http.Request) bool {
	p, ok := auth.FromContext(r.Context())
	return ok && p.IsPlatformAdmin()
}

// terms checks, after ids, that the caller may change commercial terms. It
// comes after the tenant check, so another tenant's caller still gets the
// 404 that says nothing about whether the tenant exists.
func terms(r *http.Request) error {
	if !platform(r) {
		return termsForbidden()
	}
	return nil
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := ids(r, auth.Admin)
	if err == nil {
		err = terms(r)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodeCreate(w, r, h.now())
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	n := licenses.New{Product: req.Product, Seats: req.Seats.Value, LeaseTTLSeconds: req.LeaseTTLSeconds.Value,
		RequireUser: req.RequireUser, Leasing: req.Leasing, MaxSeatsPerUser: req.MaxSeatsPerUser,
		MaxLeaseTTLSeconds: req.MaxLeaseTTLSeconds.Value, MaxInstancesPerSeat: req.MaxInstancesPerSeat,
		LingerSeconds: req.LingerSeconds.Value, ReviveSeconds: req.ReviveSeconds.Value,
		OverageMode: req.Overage.Value.Mode, OverageValue: req.Overage.Value.Value, AutoRenewPeriod: autoRenewPeriod(req.AutoRenew)}
	if req.ExpiresAt.Set && !req.ExpiresAt.Null {
		n.ExpiresAt = &req.ExpiresAt.Value
	}
	if req.Borrow.Set {
		// Checked by decodeCreate; converted again for its defaults.
		if n.Borrow, err = checkBorrow(req.Borrow); err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
	}
	l, key, err := h.store.Create(r.Context(), tenantID, n)
	if errors.Is(err, database.ErrNotFound) {
		err = apierror.TenantNotFound()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	// Warming Redis is an optimisation: if it fails, the first acquire
	// loads the license from PostgreSQL, so the create still succeeds.
	if err := h.licensing.SyncLicense(r.Context(), l); err != nil {
		logging.RecordError(r.Context(), err)
	}
	out := view(l, 0)
	out.Key = key
	w.Header().Set("Location", "/v1/tenants/"+tenantID+"/licenses/"+l.ID)
	httpjson.Write(w, http.StatusCreated, out)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := ids(r, auth.Member)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	page, err := paging.Page(r)
	if err == nil {
		err = paging.UUIDCursor(page)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if err := h.licensing.LiveTenant(r.Context(), tenantID); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	all, next, err := h.store.List(r.Context(), tenantID, page)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	idList := make([]string, len(all))
	for i, l := range all {
		idList[i] = l.ID
	}
	used, err := h.engine.Count(r.Context(), idList)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	out := make([]license, len(all))
	for i, l := range all {
		out[i] = view(l, used[l.ID])
	}
	httpjson.List(w, "licenses", out, next)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Member)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	l, err := h.store.Get(r.Context(), tenantID, licenseID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.answer(w, r, l)
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodePatch(w, r, platform(r))
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	p := licenses.Patch{ClearExpiry: req.ExpiresAt.Set && req.ExpiresAt.Null}
	if req.Seats.Set {
		p.Seats = &req.Seats.Value
	}
	if req.Status.Set {
		p.Status = &req.Status.Value
	}
	if req.LeaseTTLSeconds.Set {
		p.LeaseTTLSeconds = &req.LeaseTTLSeconds.Value
	}
	if req.MaxLeaseTTLSeconds.Set {
		p.MaxLeaseTTLSeconds = &req.MaxLeaseTTLSeconds.Value
	}
	if req.ExpiresAt.Set && !req.ExpiresAt.Null {
		p.ExpiresAt = &req.ExpiresAt.Value
	}
	if req.RequireUser.Set {
		p.RequireUser = &req.RequireUser.Value
	}
	if req.Leasing.Set {
		p.Leasing = &req.Leasing.Value
	}
	if req.MaxSeatsPerUser.Set {
		p.ClearMaxSeatsPerUser = req.MaxSeatsPerUser.Null
		if !req.MaxSeatsPerUser.Null {
			p.MaxSeatsPerUser = &req.MaxSeatsPerUser.Value
		}
	}
	if req.MaxInstancesPerSeat.Set {
		p.ClearMaxInstancesPerSeat = req.MaxInstancesPerSeat.Null
		if !req.MaxInstancesPerSeat.Null {
			p.MaxInstancesPerSeat = &req.MaxInstancesPerSeat.Value
		}
	}
	if req.LingerSeconds.Set {
		p.LingerSeconds = &req.LingerSeconds.Value
	}
	if req.ReviveSeconds.Set {
		p.ReviveSeconds = &req.ReviveSeconds.Value
	}
	if req.AutoRenew.Set {
		p.AutoRenewPeriod = autoRenewPeriod(req.AutoRenew)
		p.ClearAutoRenew = p.AutoRenewPeriod == nil
	}
	if req.Overage.Set {
		p.OverageMode, p.OverageValue = &req.Overage.Value.Mode, &req.Overage.Value.Value
	}
	if req.Borrow.Set {
		if p.Borrow, err = checkBorrow(req.Borrow); err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		p.ClearBorrow = p.Borrow == nil
	}
	l, err := h.store.Update(r.Context(), tenantID, licenseID, p)
	if err == nil {
		err = h.licensing.SyncLicense(r.Context(), l)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.answer(w, r, l)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err == nil {
		err = terms(r)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	l, err := h.store.Delete(r.Context(), tenantID, licenseID)
	if err == nil {
		err = h.licensing.SyncLicense(r.Context(), l)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handler) sessions(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	limit, err := sessionsLimit(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if _, err := h.store.Get(r.Context(), tenantID, licenseID); err != nil {
		h.fail(w, r, err)
		return
	}
	list, err := h.engine.Sessions(r.Context(), licenseID, limit)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"sessions": apierror.Sessions(list)})
}

// answer writes one license with its live seat count.
func (h *handler) answer(w http.ResponseWriter, r *http.Request, l licenses.License) {
	used, err := h.engine.Count(r.Context(), []string{l.ID})
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, view(l, used[l.ID]))
}

// fail maps a store error: a missing row is the license (or its tenant)
// not found, a lease TTL over the ceiling is the request's fault; anything
// else is the backend's.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, licenses.ErrLeaseTTLOverMax) {
		err = overMax()
	}
	if errors.Is(err, database.ErrNotFound) {
		if r.PathValue("license_id") == "" {
			err = apierror.TenantNotFound()
		} else {
			err = apierror.LicenseNotFound()
		}
	}
	httpjson.WriteError(w, r, err)
}

func view(l licenses.License, used int) license {
	v := license{
		ID: l.ID, TenantID: l.TenantID, Product: l.Product, Seats: l.Seats, SeatsUsed: used,
		LeaseTTLSeconds: l.LeaseTTLSeconds, MaxLeaseTTLSeconds: l.MaxLeaseTTLSeconds, Status: l.Status, KeyPrefix: l.KeyPrefix,
		RequireUser: l.RequireUser, MaxSeatsPerUser: l.MaxSeatsPerUser, Leasing: l.Leasing,
		MaxInstancesPerSeat: l.MaxInstancesPerSeat, LingerSeconds: l.LingerSeconds, ReviveSeconds: l.ReviveSeconds,
		Overage:   overagePolicy{Mode: l.OverageMode, Value: l.OverageValue},
		Borrow:    l.Borrow,
		CreatedAt: httpjson.Time(l.CreatedAt), UpdatedAt: httpjson.Time(l.UpdatedAt),
	}
	if l.AutoRenewPeriod != nil {
		v.AutoRenew = &autoRenew{Period: *l.AutoRenewPeriod}
	}
	if l.ExpiresAt != nil {
		s := httpjson.Time(*l.ExpiresAt)
		v.ExpiresAt = &s
	}
	return v
}
