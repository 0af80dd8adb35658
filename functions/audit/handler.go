// Package audit is the Audit function: a tenant's admins read the record of
// every admin change to their tenant.
package audit

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/audit"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/tenants"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Audit"

// New returns the function.
func New(authn *auth.Authenticator, store *audit.Store, tenantStore *tenants.Store) (route.Function, error) {
	if authn == nil || store == nil || tenantStore == nil {
		return route.Function{}, errors.New("audit: missing dependency")
	}
	list := func(w http.ResponseWriter, r *http.Request) {
		tenantID, _, err := auth.Tenant(r, auth.Admin)
		if err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		page, err := httpjson.Page(r)
		if err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		if err := apierror.LiveTenant(r.Context(), tenantStore, tenantID); err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		entries, next, err := store.List(r.Context(), tenantID, page)
		if errors.Is(err, database.ErrBadCursor) {
			err = httpjson.Invalid("cursor is not one this API gave out")
		}
		if err != nil {
			httpjson.WriteError(w, r, err)
			return
		}
		httpjson.List(w, "entries", entries, next)
	}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/audit", Methods: authn.RequireAll(route.Methods{http.MethodGet: list})},
	}}, nil
}
