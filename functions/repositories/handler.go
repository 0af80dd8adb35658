// Package repositories is the Repositories function: a tenant's admins
// create, read, change and delete the code repositories they use the
// product in. Remote URLs are normalised, so the ssh and https forms of one
// remote are one repository.
package repositories

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/repositories"
	"github.com/coditect-ai/license-server/shared/resource"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Repositories"

// New returns the function.
func New(authn *auth.Authenticator, store *repositories.Store, lic *licensing.Service) (route.Function, error) {
	if authn == nil || store == nil || lic == nil {
		return route.Function{}, errors.New("repositories: missing dependency")
	}
	h := &handler{store: store}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/repositories", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:  resource.List(lic, "repositories", paging.UUIDCursors(store.List)),
			http.MethodPost: h.create,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/repositories/{repository_id}", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:    h.get,
			http.MethodPatch:  h.patch,
			http.MethodDelete: h.delete,
		})},
	}}, nil
}

type handler struct{ store *repositories.Store }

type body struct {
	Name          *string `json:"name"`
	RemoteURL     *string `json:"remote_url"`
	Provider      *string `json:"provider"`
	DefaultBranch *string `json:"default_branch"`
}

// decode reads and checks a create (all required but provider and branch)
// or a patch (at least one field).
func decode(w http.ResponseWriter, r *http.Request, create bool) (repositories.Fields, error) {
	var b body
	if err := httpjson.Decode(w, r, &b); err != nil {
		return repositories.Fields{}, err
	}
	if create && (b.Name == nil || b.RemoteURL == nil) {
		return repositories.Fields{}, httpjson.Invalid(`fields "name" and "remote_url" are required`)
	}
	if !create && b.Name == nil && b.RemoteURL == nil && b.Provider == nil && b.DefaultBranch == nil {
		return repositories.Fields{}, httpjson.Invalid("nothing to change")
	}
	for _, f := range []struct {
		name string
		v    *string
		max  int
	}{{"name", b.Name, 200}, {"provider", b.Provider, 50}, {"default_branch", b.DefaultBranch, 255}} {
		if f.v != nil {
			if err := httpjson.Text(f.name, *f.v, f.name == "name", f.max); err != nil {
				return repositories.Fields{}, err
			}
		}
	}
	if b.RemoteURL != nil {
		if err := httpjson.Text("remote_url", *b.RemoteURL, true, 500); err != nil {
			return repositories.Fields{}, err
		}
		n, err := repositories.Normalize(*b.RemoteURL)
		if err != nil {
			return repositories.Fields{}, httpjson.Invalid(`field "remote_url" must be a git remote (https://, ssh:// or user@host:path)`)
		}
		b.RemoteURL = &n
	}
	return repositories.Fields{Name: b.Name, RemoteURL: b.RemoteURL, Provider: b.Provider, DefaultBranch: b.DefaultBranch}, nil
}

func (h *handler) ids(r *http.Request) (string, string, error) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		return "", "", err
	}
	id, err := auth.PathID(r, "repository_id", "repository_not_found", "repository")
	return tenantID, id, err
}

func fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, database.ErrNotFound):
		err = httpjson.NotFound("repository_not_found", "repository")
	case errors.Is(err, repositories.ErrRemoteTaken):
		err = httpjson.Errorf(http.StatusConflict, "remote_taken", "another repository of this tenant has this remote")
	}
	httpjson.WriteError(w, r, err)
}

func (h *handler) create(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	f, err := decode(w, r, true)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	repo, err := h.store.Create(r.Context(), tenantID, f)
	if errors.Is(err, database.ErrNotFound) {
		err = apierror.TenantNotFound()
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/tenants/"+tenantID+"/repositories/"+repo.ID)
	httpjson.Write(w, http.StatusCreated, repo)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	repo, err := h.store.Get(r.Context(), tenantID, id)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, repo)
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	f, err := decode(w, r, false)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	repo, err := h.store.Update(r.Context(), tenantID, id, f)
	if err != nil {
		fail(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, repo)
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := h.ids(r)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if err := h.store.Delete(r.Context(), tenantID, id); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
