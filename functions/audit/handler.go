// Package audit is the Audit function: a tenant's admins read the record of
// every admin change to their tenant, all of it or only the entries of one
// actor, action, target type or target.
package audit

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/coditect-ai/license-server/shared/audit"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Audit"

// maxFilterLen bounds the actor and target id filters (an actor is
// user:<e-mail or subject>, at most a few hundred bytes).
const maxFilterLen = 512

// New returns the function.
func New(authn *auth.Authenticator, store *audit.Store, lic *licensing.Service) (route.Function, error) {
	if authn == nil || store == nil || lic == nil {
		return route.Function{}, errors.New("audit: missing dependency")
	}
	h := handler{store: store, licensing: lic}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/audit", Methods: authn.RequireAll(route.Methods{
			http.MethodGet: h.list,
		})},
	}}, nil
}

type handler struct {
	store     *audit.Store
	licensing *licensing.Service
}

// list answers as every tenant resource's list (shared/resource): the
// caller must be an admin of the tenant, the tenant must exist, and the page
// is {"entries": [...], "next_cursor": ...}; the query may also filter.
func (h handler) list(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	page, err := paging.Page(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	filter, err := parseFilter(r.URL.Query())
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if err := h.licensing.LiveTenant(r.Context(), tenantID); err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	entries, next, err := h.store.List(r.Context(), tenantID, filter, page)
	if errors.Is(err, database.ErrBadCursor) {
		err = httpjson.Invalid("cursor is not one this API gave out for these filters")
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.List(w, "entries", entries, next)
}

// parseFilter reads ?actor=, ?action=, ?target_type= and ?target_id= (each
// an exact match; absent or empty: any). An action must be
// <target_type>.<verb> of a known type and verb, a target type one of
// audit.TargetTypes; else 400 invalid_request.
func parseFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{Actor: q.Get("actor"), Action: q.Get("action"), TargetType: q.Get("target_type"), TargetID: q.Get("target_id")}
	if err := httpjson.First(httpjson.Text("actor", f.Actor, false, maxFilterLen),
		httpjson.Text("target_id", f.TargetID, false, maxFilterLen)); err != nil {
		return f, err
	}
	if f.Action != "" && !audit.KnownAction(f.Action) {
		return f, httpjson.Invalid("action must be <target_type>.<verb>, e.g. license.update (target types: %s)",
			strings.Join(audit.TargetTypes, ", "))
	}
	if f.TargetType != "" && !audit.KnownTargetType(f.TargetType) {
		return f, httpjson.Invalid("target_type must be one of %s", strings.Join(audit.TargetTypes, ", "))
	}
	return f, nil
}
