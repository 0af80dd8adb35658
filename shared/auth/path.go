package auth

import (
	"net/http"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Tenant reads {tenant_id} from the path and checks the request's principal
// (set by Require) may act on it with at least role need. An id that is not
// a UUID, or a tenant that is not the caller's, is a 404 that never reaches
// SQL; too small a role on one's own tenant is a 403.
func Tenant(r *http.Request, need Role) (string, Principal, error) {
	p, ok := FromContext(r.Context())
	if !ok {
		return "", Principal{}, httpjson.Errorf(http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer <credential>")
	}
	id := r.PathValue("tenant_id")
	if !tokens.ValidUUID(id) {
		return "", p, httpjson.NotFound("tenant_not_found", "tenant")
	}
	if err := p.Authorize(id, need); err != nil {
		return "", p, err
	}
	return id, p, nil
}

// PathID reads a resource id from the path; one that is not a UUID is the
// resource's 404 (code, e.g. "license_not_found").
func PathID(r *http.Request, name, code, what string) (string, error) {
	id := r.PathValue(name)
	if !tokens.ValidUUID(id) {
		return "", httpjson.NotFound(code, what)
	}
	return id, nil
}
