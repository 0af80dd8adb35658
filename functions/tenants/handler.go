// Package tenants is the Tenants function. The platform admin creates,
// changes and deletes tenants; a tenant's own people may read their tenant.
// Suspending or deleting a tenant makes all its licenses inactive at once,
// written through to the seat store; deleting one also ends the answers
// for its API keys that Redis keeps, so they stop working with it.
package tenants

import (
	"context"
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/tenants"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Tenants"

// KeyForgetter ends what Redis keeps of a tenant's API keys
// (apikeys.Cache).
type KeyForgetter interface {
	ForgetTenant(ctx context.Context, tenantID string) error
}

// New returns the function.
func New(authn *auth.Authenticator, store *tenants.Store, lic *licensing.Service, keys KeyForgetter) (route.Function, error) {
	if authn == nil || store == nil || lic == nil || keys == nil {
		return route.Function{}, errors.New("tenants: missing dependency")
	}
	h := &handler{store: store, licensing: lic, keys: keys}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:  h.list,
			http.MethodPost: h.create,
		})},
		{Pattern: "/v1/tenants/{tenant_id}", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:    h.get,
			http.MethodPatch:  h.patch,
			http.MethodDelete: h.delete,
		})},
	}}, nil
}

type handler struct {
	store     *tenants.Store
	licensing *licensing.Service
	keys      KeyForgetter
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	if p, _ := auth.FromContext(r.Context()); !p.IsPlatformAdmin() {
		httpjson.WriteError(w, r, auth.Forbidden())
		return
	}
	req, err := decodeCreate(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	t, err := h.store.Create(r.Context(), req.Name, req.Slug, req.IDPTenantID)
	if err != nil {
		httpjson.WriteError(w, r, storeError(err))
		return
	}
	w.Header().Set("Location", "/v1/tenants/"+t.ID)
	httpjson.Write(w, http.StatusCreated, t)
}

// list shows a platform admin every tenant, and anyone else their own.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	page, err := paging.Page(r)
	if err == nil {
		err = paging.UUIDCursor(page)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	// Exactly the caller's tenants: every one for a platform admin, else
	// those it holds a role in (an API key's one, a person's memberships).
	p, _ := auth.FromContext(r.Context())
	var all []tenants.Tenant
	var next string
	if p.IsPlatformAdmin() {
		all, next, err = h.store.List(r.Context(), "", page)
	} else {
		all, next, err = h.store.ListIn(r.Context(), p.TenantIDs(), page)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.List(w, "tenants", all, next)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	id, _, err := auth.Tenant(r, auth.Member)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	t, err := h.store.Get(r.Context(), id)
	h.answer(w, r, t, err)
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	id, _, err := auth.Tenant(r, auth.PlatformAdmin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodePatch(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	t, err := h.store.Update(r.Context(), id, tenants.Patch{
		Name: ptr(req.Name), Slug: ptr(req.Slug), Status: ptr(req.Status),
		IDPTenantID: ptr(req.IDPTenantID), ClearIDP: req.IDPTenantID.Null,
	})
	if err == nil && req.Status.Set {
		err = h.licensing.SyncTenant(r.Context(), id)
	}
	h.answer(w, r, t, err)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	id, _, err := auth.Tenant(r, auth.PlatformAdmin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	err = h.store.Delete(r.Context(), id)
	if err == nil {
		err = h.licensing.SyncTenant(r.Context(), id)
	}
	if err == nil {
		err = h.keys.ForgetTenant(r.Context(), id)
	}
	if err != nil {
		httpjson.WriteError(w, r, storeError(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// answer writes a tenant or maps the error.
func (h *handler) answer(w http.ResponseWriter, r *http.Request, t tenants.Tenant, err error) {
	if err != nil {
		httpjson.WriteError(w, r, storeError(err))
		return
	}
	httpjson.Write(w, http.StatusOK, t)
}

func storeError(err error) error {
	switch {
	case errors.Is(err, database.ErrNotFound):
		return apierror.TenantNotFound()
	case errors.Is(err, tenants.ErrSlugTaken):
		return httpjson.Errorf(http.StatusConflict, "slug_taken", "another tenant has this slug")
	case errors.Is(err, tenants.ErrIdentityTenantTaken):
		return httpjson.Errorf(http.StatusConflict, "idp_tenant_taken", "another tenant has this identity platform tenant")
	}
	return err
}
