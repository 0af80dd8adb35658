// Package workstations is the Workstations function: a tenant's admins list
// the machines seats are used on, with when each was last seen and its live
// sessions, and block or unblock one. A blocked workstation's acquires fail
// at once (written through to every license of the tenant).
package workstations

import (
	"context"
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/resource"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/workstations"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Workstations"

// New returns the function.
func New(authn *auth.Authenticator, store *workstations.Store, licenseStore *licenses.Store, lic *licensing.Service,
	engine *seats.Engine) (route.Function, error) {
	if authn == nil || store == nil || licenseStore == nil || lic == nil || engine == nil {
		return route.Function{}, errors.New("workstations: missing dependency")
	}
	h := &handler{store: store, licenses: licenseStore, licensing: lic, engine: engine}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/workstations", Methods: authn.RequireAll(route.Methods{
			http.MethodGet: resource.List(lic, "workstations", paging.UUIDCursors(h.list)),
		})},
		{Pattern: "/v1/tenants/{tenant_id}/workstations/{workstation_id}", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:   h.get,
			http.MethodPatch: h.patch,
		})},
	}}, nil
}

type handler struct {
	store     *workstations.Store
	licenses  *licenses.Store
	licensing *licensing.Service
	engine    *seats.Engine
}

// view is a workstation with its live sessions.
type view struct {
	workstations.Workstation
	Sessions []map[string]any `json:"sessions"`
}

func (h *handler) ids(r *http.Request) (string, string, error) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		return "", "", err
	}
	id, err := auth.PathID(r, "workstation_id", "workstation_not_found", "workstation")
	return tenantID, id, err
}

// list is a page of workstations, each with its live sessions.
func (h *handler) list(ctx context.Context, tenantID string, page database.Page) ([]view, string, error) {
	all, next, err := h.store.List(ctx, tenantID, page)
	if err != nil {
		return nil, "", err
	}
	live, err := h.liveSessions(ctx, tenantID)
	if err != nil {
		return nil, "", err
	}
	out := make([]view, len(all))
	for i, ws := range all {
		out[i] = view{Workstation: ws, Sessions: apierror.Sessions(live[ws.Fingerprint])}
	}
	return out, next, nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	ws, err := h.store.Get(r.Context(), tenantID, id)
	h.answer(w, r, tenantID, ws, err)
}

type patchRequest struct {
	Blocked *bool `json:"blocked"`
}

// decodePatch reads and checks a patch request; its errors are
// *httpjson.Error.
func decodePatch(w http.ResponseWriter, r *http.Request) (patchRequest, error) {
	var req patchRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	if req.Blocked == nil {
		return req, httpjson.Invalid(`field "blocked" is required`)
	}
	return req, nil
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodePatch(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	ws, err := h.store.SetBlocked(r.Context(), tenantID, id, *req.Blocked)
	if err == nil {
		// Every license of the tenant carries its blocked workstations.
		err = h.licensing.SyncTenant(r.Context(), tenantID)
	}
	h.answer(w, r, tenantID, ws, err)
}

func (h *handler) answer(w http.ResponseWriter, r *http.Request, tenantID string, ws workstations.Workstation, err error) {
	if errors.Is(err, database.ErrNotFound) {
		err = httpjson.NotFound("workstation_not_found", "workstation")
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	live, err := h.liveSessions(r.Context(), tenantID)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, view{Workstation: ws, Sessions: apierror.Sessions(live[ws.Fingerprint])})
}

// liveSessions gathers the tenant's live sessions by fingerprint, from every
// license's seat set in Redis (the only place live sessions are).
func (h *handler) liveSessions(ctx context.Context, tenantID string) (map[string][]seats.Session, error) {
	all, err := h.licenses.SeatLicensesOfTenant(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	out := map[string][]seats.Session{}
	for _, l := range all {
		if l.Status == "deleted" {
			continue
		}
		list, err := h.engine.Sessions(ctx, l.ID, l.Seats)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			out[s.Fingerprint] = append(out[s.Fingerprint], s)
		}
	}
	return out, nil
}
