// Package tenants is the Tenants function: the platform admin creates, reads,
// changes and deletes tenants. Suspending or deleting a tenant makes all its
// licenses inactive at once, written through to the seat store.
package tenants

import (
	"context"
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Tenants"

// New returns the function.
func New(admin *auth.Admin, store *tenants.Store, licenseStore *licenses.Store, engine *seats.Engine) (route.Function, error) {
	if admin == nil || store == nil || licenseStore == nil || engine == nil {
		return route.Function{}, errors.New("tenants: missing dependency")
	}
	h := &handler{store: store, licenses: licenseStore, engine: engine}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants", Methods: admin.RequireAll(route.Methods{
			http.MethodGet:  h.list,
			http.MethodPost: h.create,
		})},
		{Pattern: "/v1/tenants/{tenant_id}", Methods: admin.RequireAll(route.Methods{
			http.MethodGet:    h.get,
			http.MethodPatch:  h.patch,
			http.MethodDelete: h.delete,
		})},
	}}, nil
}

type handler struct {
	store    *tenants.Store
	licenses *licenses.Store
	engine   *seats.Engine
}

func errSlugTaken() error {
	return httpjson.Errorf(http.StatusConflict, "slug_taken", "another tenant has this slug")
}

// tenantID reads the tenant id from the path. An id that is not a UUID names
// no tenant: it is a 404, like any unknown id, and never reaches SQL.
func tenantID(r *http.Request) (string, error) {
	id := r.PathValue("tenant_id")
	if !tokens.ValidUUID(id) {
		return "", apierror.TenantNotFound()
	}
	return id, nil
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	req, err := decodeCreate(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	t, err := h.store.Create(r.Context(), req.Name, req.Slug)
	if errors.Is(err, tenants.ErrSlugTaken) {
		err = errSlugTaken()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tenants/"+t.ID)
	httpjson.Write(w, http.StatusCreated, t)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	all, err := h.store.List(r.Context())
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"tenants": all})
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	id, err := tenantID(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	t, err := h.store.Get(r.Context(), id)
	h.answer(w, r, t, err)
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	id, err := tenantID(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodePatch(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	t, err := h.store.Update(r.Context(), id, tenants.Patch{Name: ptr(req.Name), Slug: ptr(req.Slug), Status: ptr(req.Status)})
	if err == nil && req.Status.Set {
		err = h.syncLicenses(r.Context(), id)
	}
	h.answer(w, r, t, err)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	id, err := tenantID(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	err = h.store.Delete(r.Context(), id)
	if err == nil {
		err = h.syncLicenses(r.Context(), id)
	}
	if err != nil {
		h.answer(w, r, tenants.Tenant{}, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// answer writes a tenant or maps the error.
func (h *handler) answer(w http.ResponseWriter, r *http.Request, t tenants.Tenant, err error) {
	switch {
	case err == nil:
		httpjson.Write(w, http.StatusOK, t)
	case errors.Is(err, database.ErrNotFound):
		httpjson.WriteError(w, r, apierror.TenantNotFound())
	case errors.Is(err, tenants.ErrSlugTaken):
		httpjson.WriteError(w, r, errSlugTaken())
	default:
		httpjson.WriteError(w, r, err)
	}
}

// syncLicenses writes every license of the tenant through to Redis after a
// status change. The change is already committed; if Redis cannot take it
// the client gets a 503 and retrying the same request applies it.
func (h *handler) syncLicenses(ctx context.Context, tenantID string) error {
	all, err := h.licenses.SeatLicensesOfTenant(ctx, tenantID)
	if err != nil {
		return err
	}
	for _, l := range all {
		if _, err := h.engine.SyncLicense(ctx, l); err != nil {
			return httpjson.NotInEffect(err)
		}
	}
	return nil
}
