package tenants

import (
	"net/http"
	"regexp"

	"github.com/coditect-ai/license-server/shared/httpjson"
)

var slugPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

type createRequest struct {
	Name        string  `json:"name"`
	Slug        string  `json:"slug"`
	IDPTenantID *string `json:"idp_tenant_id"`
}

func decodeCreate(w http.ResponseWriter, r *http.Request) (createRequest, error) {
	var req createRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	if err := httpjson.First(httpjson.Text("name", req.Name, true, 200), checkSlug(req.Slug)); err != nil {
		return req, err
	}
	if req.IDPTenantID != nil {
		if err := httpjson.Text("idp_tenant_id", *req.IDPTenantID, true, 128); err != nil {
			return req, err
		}
	}
	return req, nil
}

type patchRequest struct {
	Name        httpjson.Field[string] `json:"name"`
	Slug        httpjson.Field[string] `json:"slug"`
	Status      httpjson.Field[string] `json:"status"`
	IDPTenantID httpjson.Field[string] `json:"idp_tenant_id"`
}

func decodePatch(w http.ResponseWriter, r *http.Request) (patchRequest, error) {
	var req patchRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	if !req.Name.Set && !req.Slug.Set && !req.Status.Set && !req.IDPTenantID.Set {
		return req, httpjson.Invalid("nothing to change: send name, slug, status or idp_tenant_id")
	}
	if req.IDPTenantID.Set && !req.IDPTenantID.Null {
		if err := httpjson.Text("idp_tenant_id", req.IDPTenantID.Value, true, 128); err != nil {
			return req, err
		}
	}
	for field, f := range map[string]httpjson.Field[string]{"name": req.Name, "slug": req.Slug, "status": req.Status} {
		if f.Null {
			return req, httpjson.Invalid("field %q cannot be null", field)
		}
	}
	if req.Name.Set {
		if err := httpjson.Text("name", req.Name.Value, true, 200); err != nil {
			return req, err
		}
	}
	if req.Slug.Set {
		if err := checkSlug(req.Slug.Value); err != nil {
			return req, err
		}
	}
	if req.Status.Set && req.Status.Value != "active" && req.Status.Value != "suspended" {
		return req, httpjson.Invalid(`field "status" must be "active" or "suspended"`)
	}
	return req, nil
}

func checkSlug(s string) *httpjson.Error {
	if !slugPattern.MatchString(s) {
		return httpjson.Invalid(`field "slug" must be 1-63 lowercase letters, digits or inner hyphens`)
	}
	return nil
}

func ptr[T any](f httpjson.Field[T]) *T {
	if !f.Set || f.Null {
		return nil
	}
	return &f.Value
}
