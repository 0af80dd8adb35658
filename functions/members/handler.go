// Package members is the Members function: a tenant's admins invite people
// (and service accounts) by e-mail, change their role and remove them; a
// platform admin does the same for any tenant and for the platform's own
// admins; anyone signed in reads who they are (GET /v1/me). An invitation
// carries nothing secret: it is claimed by signing in with that e-mail
// verified. The last admin of a tenant cannot be removed or demoted.
package members

import (
	"errors"
	"net/http"
	"slices"

	"github.com/coditect-ai/license-server/shared/apierror"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/members"
	"github.com/coditect-ai/license-server/shared/paging"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Members"

// New returns the function.
func New(authn *auth.Authenticator, store *members.Store, lic *licensing.Service) (route.Function, error) {
	if authn == nil || store == nil || lic == nil {
		return route.Function{}, errors.New("members: missing dependency")
	}
	h := &handler{store: store, lic: lic}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/tenants/{tenant_id}/members", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:  h.list,
			http.MethodPost: h.invite,
		})},
		{Pattern: "/v1/tenants/{tenant_id}/members/{member_id}", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:    h.get,
			http.MethodPatch:  h.patch,
			http.MethodDelete: h.remove,
		})},
		{Pattern: "/v1/platform/members", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:  h.list,
			http.MethodPost: h.invite,
		})},
		{Pattern: "/v1/platform/members/{member_id}", Methods: authn.RequireAll(route.Methods{
			http.MethodGet:    h.get,
			http.MethodPatch:  h.patch,
			http.MethodDelete: h.remove,
		})},
		{Pattern: "/v1/me", Methods: authn.RequireAll(route.Methods{
			http.MethodGet: h.me,
		})},
	}}, nil
}

type handler struct {
	store *members.Store
	lic   *licensing.Service
}

// target is the tenant a members route acts on ("" for the platform's own
// members) once the caller may: a tenant's members read its members and
// its admins change them; only a platform admin reaches the platform's.
func target(r *http.Request, need auth.Role) (string, auth.Principal, error) {
	if r.PathValue("tenant_id") != "" {
		return auth.Tenant(r, need)
	}
	p, ok := auth.FromContext(r.Context())
	if !ok || !p.IsPlatformAdmin() {
		return "", p, auth.Forbidden()
	}
	return "", p, nil
}

func memberNotFound() *httpjson.Error { return httpjson.NotFound("member_not_found", "member") }

// liveTenant refuses a deleted or unknown tenant with its 404 (the
// platform always exists).
func (h *handler) liveTenant(r *http.Request, tenantID string) error {
	if tenantID == "" {
		return nil
	}
	return h.lic.LiveTenant(r.Context(), tenantID)
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := target(r, auth.Member)
	if err == nil {
		err = h.liveTenant(r, tenantID)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	page, err := paging.Page(r)
	if err == nil {
		err = paging.UUIDCursor(page)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	all, next, err := h.store.List(r.Context(), tenantID, page)
	if errors.Is(err, database.ErrBadCursor) {
		err = paging.BadCursor()
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.List(w, "members", all, next)
}

type inviteRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
	Kind  string `json:"kind"`
}

// decodeInvite reads and checks an invitation; its errors are
// *httpjson.Error. The platform's members are its admins: no other role.
func decodeInvite(w http.ResponseWriter, r *http.Request, platform bool) (inviteRequest, error) {
	var req inviteRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	email, ok := members.NormalizeEmail(req.Email)
	if !ok {
		return req, httpjson.Invalid(`field "email" must be an e-mail address`)
	}
	req.Email = email
	if err := checkRole(req.Role, platform); err != nil {
		return req, err
	}
	if req.Kind != "" && req.Kind != members.KindPerson && req.Kind != members.KindServiceAccount {
		return req, httpjson.Invalid(`field "kind" must be "person" or "service_account"`)
	}
	return req, nil
}

func checkRole(role string, platform bool) error {
	if platform && role != members.RoleAdmin {
		return httpjson.Invalid(`field "role" must be "admin": the platform's members are its admins`)
	}
	if !slices.Contains([]string{members.RoleAdmin, members.RoleMember}, role) {
		return httpjson.Invalid(`field "role" must be "admin" or "member"`)
	}
	return nil
}

func (h *handler) invite(w http.ResponseWriter, r *http.Request) {
	tenantID, p, err := target(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodeInvite(w, r, tenantID == "")
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	m, err := h.store.Invite(r.Context(), tenantID, req.Email, req.Role, req.Kind, p.Actor)
	switch {
	case errors.Is(err, database.ErrNotFound):
		err = apierror.TenantNotFound()
	case errors.Is(err, members.ErrExists):
		err = httpjson.Errorf(http.StatusConflict, "member_exists", "this e-mail is a member already")
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", memberPath(tenantID, m.ID))
	httpjson.Write(w, http.StatusCreated, m)
}

func memberPath(tenantID, id string) string {
	if tenantID == "" {
		return "/v1/platform/members/" + id
	}
	return "/v1/tenants/" + tenantID + "/members/" + id
}

// member reads the caller's right (need) and the path's member id.
func member(r *http.Request, need auth.Role) (tenantID, id string, err error) {
	tenantID, _, err = target(r, need)
	if err != nil {
		return "", "", err
	}
	id, err = auth.PathID(r, "member_id", "member_not_found", "member")
	return tenantID, id, err
}

// answer writes a membership or the store's error as the API says it.
func answer(w http.ResponseWriter, r *http.Request, status int, m members.Membership, err error) {
	switch {
	case errors.Is(err, database.ErrNotFound):
		err = memberNotFound()
	case errors.Is(err, members.ErrLastAdmin):
		err = httpjson.Errorf(http.StatusConflict, "last_admin", "the last admin cannot be removed or demoted: make another admin first")
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	httpjson.Write(w, status, m)
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := member(r, auth.Member)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	m, err := h.store.Get(r.Context(), tenantID, id)
	answer(w, r, http.StatusOK, m, err)
}

type patchRequest struct {
	Role string `json:"role"`
}

// decodePatch reads and checks a role change; its errors are
// *httpjson.Error.
func decodePatch(w http.ResponseWriter, r *http.Request, platform bool) (patchRequest, error) {
	var req patchRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	return req, checkRole(req.Role, platform)
}

func (h *handler) patch(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := member(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	req, err := decodePatch(w, r, tenantID == "")
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	m, err := h.store.SetRole(r.Context(), tenantID, id, req.Role)
	answer(w, r, http.StatusOK, m, err)
}

func (h *handler) remove(w http.ResponseWriter, r *http.Request) {
	tenantID, id, err := member(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	m, err := h.store.Remove(r.Context(), tenantID, id)
	answer(w, r, http.StatusNoContent, m, err)
}

// Me is the caller as GET /v1/me answers it.
type Me struct {
	Actor string `json:"actor"`
	// Email, Issuer and Subject name a person signed in with an ID token
	// ("" for an API key or the bootstrap token).
	Email         string `json:"email"`
	Issuer        string `json:"issuer"`
	Subject       string `json:"subject"`
	PlatformAdmin bool   `json:"platform_admin"`
	// Memberships are the caller's own roles by tenant (a platform
	// admin's power over every tenant is platform_admin, not listed).
	Memberships []Role `json:"memberships"`
}

// Role is the caller's effective role in one tenant.
type Role struct {
	TenantID string `json:"tenant_id"`
	Role     string `json:"role"`
}

func (h *handler) me(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	out := Me{Actor: p.Actor, Email: p.Email, Issuer: p.Issuer, Subject: p.Subject, PlatformAdmin: p.IsPlatformAdmin(),
		Memberships: []Role{}}
	for _, id := range p.TenantIDs() {
		out.Memberships = append(out.Memberships, Role{TenantID: id, Role: string(p.RoleIn(id))})
	}
	httpjson.Write(w, http.StatusOK, out)
}
