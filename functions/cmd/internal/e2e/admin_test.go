package e2e_test

import (
	"strings"
	"testing"
	"time"
)

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	paths := []struct{ method, path string }{
		{"GET", "/v1/tenants"}, {"POST", "/v1/tenants"},
		{"GET", "/v1/tenants/" + tenant}, {"PATCH", "/v1/tenants/" + tenant}, {"DELETE", "/v1/tenants/" + tenant},
		{"GET", "/v1/tenants/" + tenant + "/licenses"}, {"POST", "/v1/tenants/" + tenant + "/licenses"},
		{"GET", "/v1/tenants/" + tenant + "/licenses/00000000-0000-4000-8000-000000000000"},
		{"GET", "/v1/tenants/" + tenant + "/licenses/00000000-0000-4000-8000-000000000000/sessions"},
	}
	for _, p := range paths {
		for _, token := range []string{"", "wrong", adminToken + "x", strings.ToUpper(adminToken)} {
			r := a.expect(a.call(p.method, p.path, token, map[string]any{}), 401, "unauthorized")
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s %s: no WWW-Authenticate", p.method, p.path)
			}
		}
	}
	req := mustRequest(t, "GET", a.srv.URL+"/v1/tenants", "")
	req.Header.Set("Authorization", "Basic "+adminToken)
	a.expect(a.do(req), 401, "unauthorized")
	// The tenant is untouched.
	a.expect(a.admin("GET", "/v1/tenants/"+tenant, nil), 200, "")
}

func TestTenants(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	created := a.expect(a.admin("POST", "/v1/tenants", map[string]any{"name": "Acme Corp", "slug": "acme"}), 201, "")
	id := created.str("id")
	if created.str("name") != "Acme Corp" || created.str("slug") != "acme" || created.str("status") != "active" ||
		created.str("created_at") == "" || created.header.Get("Location") != "/v1/tenants/"+id {
		t.Fatalf("create = %s", created.raw)
	}
	a.expect(a.admin("POST", "/v1/tenants", map[string]any{"name": "Other", "slug": "acme"}), 409, "slug_taken")
	for name, body := range map[string]any{
		"missing name":    map[string]any{"slug": "x"},
		"missing slug":    map[string]any{"name": "X"},
		"bad slug":        map[string]any{"name": "X", "slug": "Not A Slug"},
		"slug too long":   map[string]any{"name": "X", "slug": strings.Repeat("a", 64)},
		"slug hyphen end": map[string]any{"name": "X", "slug": "acme-"},
		"name too long":   map[string]any{"name": strings.Repeat("n", 201), "slug": "x"},
		"unknown field":   map[string]any{"name": "X", "slug": "x", "id": "y"},
		"wrong type":      map[string]any{"name": 5, "slug": "x"},
		"null":            "null",
		"sql in slug":     map[string]any{"name": "X", "slug": "x'; DROP TABLE tenants; --"},
	} {
		t.Run(name, func(t *testing.T) {
			b := *a
			b.t = t
			b.expect(b.admin("POST", "/v1/tenants", body), 400, "invalid_request")
		})
	}

	list := a.expect(a.admin("GET", "/v1/tenants", nil), 200, "")
	if all, _ := list.body["tenants"].([]any); len(all) != 1 {
		t.Fatalf("list = %s", list.raw)
	}
	got := a.expect(a.admin("GET", "/v1/tenants/"+id, nil), 200, "")
	if got.str("slug") != "acme" {
		t.Fatalf("get = %s", got.raw)
	}
	patched := a.expect(a.admin("PATCH", "/v1/tenants/"+id, map[string]any{"name": "Acme Inc", "slug": "acme-inc"}), 200, "")
	if patched.str("name") != "Acme Inc" || patched.str("slug") != "acme-inc" || patched.str("updated_at") == created.str("updated_at") {
		t.Fatalf("patch = %s", patched.raw)
	}
	a.tenant("taken")
	a.expect(a.admin("PATCH", "/v1/tenants/"+id, map[string]any{"slug": "taken"}), 409, "slug_taken")
	for _, body := range []any{map[string]any{}, map[string]any{"status": "deleted"}, map[string]any{"name": nil}, map[string]any{"slug": "BAD"}} {
		a.expect(a.admin("PATCH", "/v1/tenants/"+id, body), 400, "invalid_request")
	}
	for _, bad := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid", "..%2F..%2Fetc", "1%27%20OR%201%3D1"} {
		a.expect(a.admin("GET", "/v1/tenants/"+bad, nil), 404, "tenant_not_found")
		a.expect(a.admin("PATCH", "/v1/tenants/"+bad, map[string]any{"name": "x"}), 404, "tenant_not_found")
		a.expect(a.admin("DELETE", "/v1/tenants/"+bad, nil), 404, "tenant_not_found")
		a.expect(a.admin("GET", "/v1/tenants/"+bad+"/licenses", nil), 404, "tenant_not_found")
	}
	r := a.expect(a.admin("PUT", "/v1/tenants/"+id, map[string]any{}), 405, "method_not_allowed")
	if r.header.Get("Allow") != "DELETE, GET, HEAD, PATCH" {
		t.Fatalf("Allow = %q", r.header.Get("Allow"))
	}
	if d := a.admin("DELETE", "/v1/tenants/"+id, nil); d.status != 204 {
		t.Fatalf("delete = %d %s", d.status, d.raw)
	}
	a.expect(a.admin("GET", "/v1/tenants/"+id, nil), 404, "tenant_not_found")
	a.expect(a.admin("POST", "/v1/tenants/"+id+"/licenses", map[string]any{"product": "p", "seats": 1}), 404, "tenant_not_found")
	// A deleted tenant's slug is free again.
	a.expect(a.admin("POST", "/v1/tenants", map[string]any{"name": "Acme again", "slug": "acme-inc"}), 201, "")
}

func TestLicenses(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	base := "/v1/tenants/" + tenant + "/licenses"
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Millisecond)
	c := a.expect(a.admin("POST", base, map[string]any{
		"product": "coditect", "seats": 5, "lease_ttl_seconds": 120, "expires_at": expires.Format(time.RFC3339Nano)}), 201, "")
	id, key := c.str("id"), c.str("key")
	if c.num("seats") != 5 || c.num("seats_used") != 0 || c.num("lease_ttl_seconds") != 120 || c.str("status") != "active" ||
		c.str("tenant_id") != tenant || c.str("product") != "coditect" || !strings.HasPrefix(key, c.str("key_prefix")) ||
		len(key) < 60 || c.header.Get("Location") != base+"/"+id {
		t.Fatalf("create = %s", c.raw)
	}
	if got, _ := time.Parse(time.RFC3339, c.str("expires_at")); !got.Equal(expires) {
		t.Fatalf("expires_at = %s, want %s", c.str("expires_at"), expires)
	}
	def := a.expect(a.admin("POST", base, map[string]any{"product": "other", "seats": 1}), 201, "")
	if def.num("lease_ttl_seconds") != 300 || def.body["expires_at"] != nil {
		t.Fatalf("defaults = %s", def.raw)
	}

	// The key is shown once: never in reads, never stored in the clear.
	got := a.expect(a.admin("GET", base+"/"+id, nil), 200, "")
	list := a.expect(a.admin("GET", base, nil), 200, "")
	if strings.Contains(got.raw, key) || strings.Contains(list.raw, key) || got.body["key"] != nil {
		t.Fatal("the license key is readable after create")
	}
	var stored int
	if err := a.b.DB.Pool.QueryRow(t.Context(), `SELECT count(*) FROM licenses WHERE key_hash = $1 OR key_prefix = $1`, key).Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("key stored in the clear (%d, %v)", stored, err)
	}
	if all, _ := list.body["licenses"].([]any); len(all) != 2 {
		t.Fatalf("list = %s", list.raw)
	}

	for name, body := range map[string]any{
		"no product":      map[string]any{"seats": 1},
		"bad product":     map[string]any{"product": "a b", "seats": 1},
		"no seats":        map[string]any{"product": "p"},
		"null seats":      map[string]any{"product": "p", "seats": nil},
		"zero seats":      map[string]any{"product": "p", "seats": 0},
		"negative seats":  map[string]any{"product": "p", "seats": -1},
		"too many seats":  map[string]any{"product": "p", "seats": 100001},
		"fraction":        map[string]any{"product": "p", "seats": 1.5},
		"string seats":    map[string]any{"product": "p", "seats": "5"},
		"huge number":     `{"product":"p","seats":1e400}`,
		"ttl zero":        map[string]any{"product": "p", "seats": 1, "lease_ttl_seconds": 0},
		"ttl too long":    map[string]any{"product": "p", "seats": 1, "lease_ttl_seconds": 86401},
		"null ttl":        map[string]any{"product": "p", "seats": 1, "lease_ttl_seconds": nil},
		"expiry past":     map[string]any{"product": "p", "seats": 1, "expires_at": "2000-01-01T00:00:00Z"},
		"expiry not time": map[string]any{"product": "p", "seats": 1, "expires_at": "tomorrow"},
		"unknown field":   map[string]any{"product": "p", "seats": 1, "key": "mine"},
	} {
		t.Run("create "+name, func(t *testing.T) {
			b := *a
			b.t = t
			b.expect(b.admin("POST", base, body), 400, "invalid_request")
		})
	}

	p := a.expect(a.admin("PATCH", base+"/"+id, map[string]any{"seats": 7, "lease_ttl_seconds": 30, "status": "suspended"}), 200, "")
	if p.num("seats") != 7 || p.num("lease_ttl_seconds") != 30 || p.str("status") != "suspended" || p.str("expires_at") == "" {
		t.Fatalf("patch = %s", p.raw)
	}
	p = a.expect(a.admin("PATCH", base+"/"+id, map[string]any{"expires_at": nil, "status": "active"}), 200, "")
	if p.body["expires_at"] != nil || p.str("status") != "active" || p.num("seats") != 7 {
		t.Fatalf("patch clearing expiry = %s", p.raw)
	}
	g := a.expect(a.acquire(key, "ws"), 200, "")
	if g.num("seats_total") != 7 || g.num("heartbeat_interval_seconds") != 10 {
		t.Fatalf("acquire after patch = %s", g.raw)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"seats": 0}, map[string]any{"seats": nil},
		map[string]any{"status": "deleted"}, map[string]any{"product": "renamed"}, map[string]any{"lease_ttl_seconds": -5}} {
		a.expect(a.admin("PATCH", base+"/"+id, body), 400, "invalid_request")
	}

	// Another tenant cannot see or touch this license: 404, as if it did not exist.
	other := a.tenant("other")
	otherBase := "/v1/tenants/" + other + "/licenses/" + id
	a.expect(a.admin("GET", otherBase, nil), 404, "license_not_found")
	a.expect(a.admin("PATCH", otherBase, map[string]any{"seats": 1}), 404, "license_not_found")
	a.expect(a.admin("DELETE", otherBase, nil), 404, "license_not_found")
	a.expect(a.admin("GET", otherBase+"/sessions", nil), 404, "license_not_found")
	if l := a.expect(a.admin("GET", "/v1/tenants/"+other+"/licenses", nil), 200, ""); strings.Contains(l.raw, id) {
		t.Fatal("another tenant lists the license")
	}
	for _, bad := range []string{"nope", "00000000-0000-4000-8000-000000000000", "%2E%2E"} {
		a.expect(a.admin("GET", base+"/"+bad, nil), 404, "license_not_found")
		a.expect(a.admin("GET", base+"/"+bad+"/sessions", nil), 404, "license_not_found")
	}
	a.expect(a.admin("GET", base+"/"+id+"/sessions?limit=0", nil), 400, "invalid_request")
	a.expect(a.admin("GET", base+"/"+id+"/sessions?limit=x", nil), 400, "invalid_request")
	s := a.expect(a.admin("GET", base+"/"+id+"/sessions?limit=1", nil), 200, "")
	if all, _ := s.body["sessions"].([]any); len(all) != 1 {
		t.Fatalf("sessions = %s", s.raw)
	}
	a.expect(a.admin("POST", base+"/"+id+"/sessions", map[string]any{}), 405, "method_not_allowed")
}

// TestListsOfMissingTenants: every list under a tenant that does not exist
// (or was deleted) is a 404, not an empty list.
func TestListsOfMissingTenants(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	gone := a.tenant("gone")
	if r := a.admin("DELETE", "/v1/tenants/"+gone, nil); r.status != 204 {
		t.Fatalf("delete = %d", r.status)
	}
	for _, id := range []string{gone, "00000000-0000-4000-8000-000000000000"} {
		for _, p := range []string{"licenses", "api-keys", "workstations", "repositories", "audit", "usage"} {
			a.expect(a.admin("GET", "/v1/tenants/"+id+"/"+p, nil), 404, "tenant_not_found")
		}
	}
}

func TestUnknownPathsAndHealth(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	for _, p := range []string{"/", "/v1", "/v2/acquire", "/v1/acquire/extra", "/health/x", "/../../etc/passwd"} {
		a.expect(a.call("GET", p, "", nil), 404, "not_found")
	}
	if r := a.expect(a.call("GET", "/health/", "", nil), 200, ""); r.raw != "{\"status\":\"ok\"}\n" {
		t.Fatalf("health = %q", r.raw)
	}
	if r := a.expect(a.call("GET", "/ready", "", nil), 200, ""); r.str("status") != "ready" {
		t.Fatalf("ready = %s", r.raw)
	}
	if r := a.call("HEAD", "/health/", "", nil); r.status != 200 {
		t.Fatalf("HEAD /health/ = %d", r.status)
	}
	a.expect(a.call("POST", "/ready", "", map[string]any{}), 405, "method_not_allowed")
}
