// Package apikeys is the APIKeys function: a tenant's admins create API keys
// for service accounts and CI (the key is shown once), list them and revoke
// them; revocation takes effect on the next request (shared/apikeys.Cache
// ends the key in Redis as it commits).
package apikeys

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/apikeys"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/resource"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "APIKeys"

// New returns the function.
func New(authn *auth.Authenticator, store *apikeys.Cache, lic *licensing.Service) (route.Function, error) {
	if authn == nil || store == nil || lic == nil {
		return route.Function{}, errors.New("apikeys: missing dependency")
	}
	h := &handler{store: store}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/api-keys", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:  resource.List(lic, "api_keys", paging.UUIDCursors(store.List)),
			http.MethodPost: h.create,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/api-keys/{key_id}", Methods: authn.RequireAll(route.Methods{
			http.MethodDelete: h.revoke,
		})},
	}}, nil
}

type handler struct{ store *apikeys.Cache }

type createRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// decodeCreate reads and checks a create request; its errors are
// *httpjson.Error.
func decodeCreate(w http.ResponseWriter, r *http.Request) (createRequest, error) {
	var req createRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	if err := httpjson.First(httpjson.Text("name", req.Name, true, 200)); err != nil {
		return req, err
	}
	if req.Role != string(auth.Admin) && req.Role != string(auth.Member) {
		return req, httpjson.Invalid(`field "role" must be "admin" or "member"`)
	}
	return req, nil
}

// created is a key as answered to create: the only time the secret is shown.
type created struct {
	apikeys.Key
	Secret string `json:"key"`
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	tenantID, p, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodeCreate(w, r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	k, secret, err := h.store.Create(r.Context(), tenantID, req.Name, req.Role, p.Actor)
	if errors.Is(err, database.ErrNotFound) {
		err = apierror.TenantNotFound()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tenants/"+tenantID+"/api-keys/"+k.ID)
	httpjson.Write(w, http.StatusCreated, created{Key: k, Secret: secret})
}

func (h *handler) revoke(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	id, err := auth.PathID(r, "key_id", "api_key_not_found", "API key")
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if _, err := h.store.Revoke(r.Context(), tenantID, id); err != nil {
		if errors.Is(err, database.ErrNotFound) {
			err = httpjson.NotFound("api_key_not_found", "API key")
		}
		httpjson.WriteError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
