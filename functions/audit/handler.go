// Package audit is the Audit function: a tenant's admins read the record of
// every admin change to their tenant.
package audit

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/audit"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/resource"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Audit"

// New returns the function.
func New(authn *auth.Authenticator, store *audit.Store, lic *licensing.Service) (route.Function, error) {
	if authn == nil || store == nil || lic == nil {
		return route.Function{}, errors.New("audit: missing dependency")
	}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/audit", Methods: authn.RequireAll(route.Methods{
			http.MethodGet: resource.List(lic, "entries", store.List),
		})},
	}}, nil
}
