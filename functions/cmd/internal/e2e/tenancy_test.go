package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// world is two tenants with one of everything each, and API keys.
type world struct {
	a                          *api
	tenant                     map[string]string // "A", "B" -> id
	license, key, ws, repo, ak map[string]string
	licKey                     map[string]string
	adminKey, memberKey        map[string]string
	member, digest             map[string]string // a pending member's id; the live session's digest
	hook, delivery             map[string]string // a webhook's id; its test ping's delivery
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{a: newAPI(t), tenant: map[string]string{}, license: map[string]string{}, key: map[string]string{},
		ws: map[string]string{}, repo: map[string]string{}, ak: map[string]string{}, licKey: map[string]string{},
		adminKey: map[string]string{}, memberKey: map[string]string{},
		member: map[string]string{}, digest: map[string]string{}, hook: map[string]string{}, delivery: map[string]string{}}
	a := w.a
	for _, n := range []string{"A", "B"} {
		id := a.tenant("tenant-" + strings.ToLower(n))
		w.tenant[n] = id
		w.license[n], w.licKey[n] = a.license(id, map[string]any{"seats": 5})
		base := "/v1/tenants/" + id
		ak := a.expect(a.admin("POST", base+"/api-keys", map[string]any{"name": "admin", "role": "admin"}), 201, "")
		w.adminKey[n], w.ak[n] = ak.str("key"), ak.str("id")
		w.memberKey[n] = a.expect(a.admin("POST", base+"/api-keys", map[string]any{"name": "member", "role": "member"}), 201, "").str("key")
		w.repo[n] = a.expect(a.admin("POST", base+"/repositories", map[string]any{"name": "w", "remote_url": "git@github.com:acme/" + n + ".git"}), 201, "").str("id")
		w.member[n] = a.expect(a.admin("POST", base+"/members", map[string]any{"email": "m@" + n + ".example", "role": "member"}), 201, "").str("id")
		w.digest[n] = tokens.SessionDigest(a.expect(a.acquire(w.licKey[n], "ws-"+n), 200, "").str("session_id"))
		w.hook[n] = a.expect(a.admin("POST", base+"/webhooks", map[string]any{"url": "https://hooks.example.com/" + n}), 201, "").str("id")
		w.delivery[n] = a.expect(a.admin("POST", base+"/webhooks/"+w.hook[n]+"/test", nil), 202, "").str("id")
	}
	// Workstations are recorded in the background; wait for both.
	deadline := time.Now().Add(10 * time.Second)
	for _, n := range []string{"A", "B"} {
		for {
			r := a.admin("GET", "/v1/tenants/"+w.tenant[n]+"/workstations", nil)
			if list, _ := r.body["workstations"].([]any); len(list) == 1 {
				w.ws[n] = list[0].(map[string]any)["id"].(string)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("workstation of %s not recorded: %s", n, r.raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return w
}

type endpoint struct {
	method, path string
	body         any
	memberMay    bool // a member of the tenant may call it
	platformOnly bool // only a platform admin may call it
}

// endpoints lists every tenant-scoped endpoint and method, on tenant n's ids.
func (w *world) endpoints(n string) []endpoint {
	t := "/v1/tenants/" + w.tenant[n]
	l := t + "/licenses/" + w.license[n]
	return []endpoint{
		{"GET", t, nil, true, false},
		{"PATCH", t, map[string]any{"name": "x"}, false, true},
		{"PATCH", t, map[string]any{"status": "suspended"}, false, true},
		{"DELETE", t, nil, false, true},
		{"GET", t + "/licenses", nil, true, false},
		// Commercial terms (issue 17): the platform's alone.
		{"POST", t + "/licenses", map[string]any{"product": "p", "seats": 1}, false, true},
		{"GET", l, nil, true, false},
		{"PATCH", l, map[string]any{"seats": 1}, false, true},
		{"PATCH", l, map[string]any{"status": "suspended"}, false, true},
		{"PATCH", l, map[string]any{"expires_at": "2099-01-01T00:00:00Z"}, false, true},
		{"PATCH", l, map[string]any{"expires_at": nil}, false, true},
		{"PATCH", l, map[string]any{"max_lease_ttl_seconds": 600}, false, true},
		{"PATCH", l, map[string]any{"require_user": true, "seats": 1}, false, true},
		// How the seats are used: the tenant admin's.
		{"PATCH", l, map[string]any{"require_user": false}, false, false},
		{"PATCH", l, map[string]any{"max_seats_per_user": 2}, false, false},
		{"PATCH", l, map[string]any{"leasing": "per_fingerprint"}, false, false},
		{"PATCH", l, map[string]any{"lease_ttl_seconds": 300}, false, false},
		{"POST", l + "/certificate", nil, false, false},
		{"DELETE", l, nil, false, true},
		{"GET", l + "/sessions", nil, false, false},
		// The operator's controls (issue 17), in this order: the session
		// is live until the first ends it.
		{"DELETE", l + "/sessions/" + w.digest[n], nil, false, false},
		{"POST", l + "/sessions:revoke-all", nil, false, false},
		{"POST", l + "/rotate-key", map[string]any{"grace_seconds": 60}, false, false},
		// People (issue 17): members read them, admins change them.
		{"GET", t + "/members", nil, true, false},
		{"GET", t + "/members/" + w.member[n], nil, true, false},
		{"POST", t + "/members", map[string]any{"email": "new@example.com", "role": "member"}, false, false},
		{"PATCH", t + "/members/" + w.member[n], map[string]any{"role": "admin"}, false, false},
		{"DELETE", t + "/members/" + w.member[n], nil, false, false},
		{"GET", t + "/api-keys", nil, false, false},
		{"POST", t + "/api-keys", map[string]any{"name": "x", "role": "member"}, false, false},
		{"DELETE", t + "/api-keys/" + w.ak[n], nil, false, false},
		{"GET", t + "/workstations", nil, false, false},
		{"GET", t + "/workstations/" + w.ws[n], nil, false, false},
		{"PATCH", t + "/workstations/" + w.ws[n], map[string]any{"blocked": true}, false, false},
		{"GET", t + "/repositories", nil, false, false},
		{"POST", t + "/repositories", map[string]any{"name": "x", "remote_url": "https://github.com/x/y"}, false, false},
		{"GET", t + "/repositories/" + w.repo[n], nil, false, false},
		{"PATCH", t + "/repositories/" + w.repo[n], map[string]any{"name": "y"}, false, false},
		{"DELETE", t + "/repositories/" + w.repo[n], nil, false, false},
		{"GET", t + "/audit", nil, false, false},
		{"GET", t + "/usage", nil, false, false},
		// Notifications (issue 19): the tenant admin's.
		{"GET", t + "/webhooks", nil, false, false},
		{"POST", t + "/webhooks", map[string]any{"url": "https://hooks.example.com/new"}, false, false},
		{"GET", t + "/webhooks/" + w.hook[n], nil, false, false},
		{"PATCH", t + "/webhooks/" + w.hook[n], map[string]any{"enabled": false}, false, false},
		{"POST", t + "/webhooks/" + w.hook[n] + "/rotate-secret", nil, false, false},
		{"POST", t + "/webhooks/" + w.hook[n] + "/test", nil, false, false},
		{"GET", t + "/webhooks/" + w.hook[n] + "/deliveries", nil, false, false},
		{"POST", t + "/webhooks/" + w.hook[n] + "/deliveries/" + w.delivery[n] + "/redeliver", nil, false, false},
		{"DELETE", t + "/webhooks/" + w.hook[n], nil, false, false},
		{"GET", t + "/notification-settings", nil, false, false},
		{"PATCH", t + "/notification-settings", map[string]any{"time_zone": "Europe/Berlin"}, false, false},
	}
}

// TestIsolation: for every endpoint and method, a credential of tenant A on
// tenant B's ids gets 404, exactly as if B did not exist, and nothing of B
// changes; a member gets 403 on admin operations of its own tenant.
func TestIsolation(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.a
	auditBefore := a.expect(a.admin("GET", "/v1/tenants/"+w.tenant["B"]+"/audit?limit=200", nil), 200, "").raw

	for _, cred := range []string{"adminKey", "memberKey"} {
		key := map[string]map[string]string{"adminKey": w.adminKey, "memberKey": w.memberKey}[cred]["A"]
		for _, e := range w.endpoints("B") {
			t.Run(fmt.Sprintf("%s %s %s", cred, e.method, e.path), func(t *testing.T) {
				b := *a
				b.t = t
				r := b.call(e.method, e.path, key, e.body)
				if r.status != 404 || !strings.HasSuffix(r.code(), "_not_found") {
					t.Fatalf("A's %s on B: %d %s, want 404", cred, r.status, r.raw)
				}
			})
		}
	}
	// B's resource ids under A's own tenant path: still 404.
	for p, code := range map[string]string{
		"/licenses/" + w.license["B"]:               "license_not_found",
		"/licenses/" + w.license["B"] + "/sessions": "license_not_found",
		"/workstations/" + w.ws["B"]:                "workstation_not_found",
		"/repositories/" + w.repo["B"]:              "repository_not_found",
		"/webhooks/" + w.hook["B"]:                  "webhook_not_found",
		"/webhooks/" + w.hook["B"] + "/deliveries":  "webhook_not_found",
	} {
		a.expect(a.call("GET", "/v1/tenants/"+w.tenant["A"]+p, w.adminKey["A"], nil), 404, code)
	}
	a.expect(a.call("DELETE", "/v1/tenants/"+w.tenant["A"]+"/api-keys/"+w.ak["B"], w.adminKey["A"], nil), 404, "api_key_not_found")
	a.expect(a.call("POST", "/v1/tenants/"+w.tenant["A"]+"/webhooks/"+w.hook["A"]+"/deliveries/"+w.delivery["B"]+"/redeliver",
		w.adminKey["A"], nil), 404, "delivery_not_found")
	// B is untouched: same audit log, its key still works, its license is there.
	if after := a.expect(a.admin("GET", "/v1/tenants/"+w.tenant["B"]+"/audit?limit=200", nil), 200, "").raw; after != auditBefore {
		t.Fatal("tenant B's audit log changed: something was written")
	}
	a.expect(a.call("GET", "/v1/tenants/"+w.tenant["B"], w.adminKey["B"], nil), 200, "")
	a.expect(a.admin("GET", "/v1/tenants/"+w.tenant["B"]+"/licenses/"+w.license["B"], nil), 200, "")
	// Listing tenants shows a tenant's people only their own.
	list := a.expect(a.call("GET", "/v1/tenants", w.adminKey["A"], nil), 200, "")
	if !strings.Contains(list.raw, w.tenant["A"]) || strings.Contains(list.raw, w.tenant["B"]) {
		t.Fatalf("tenant list of A = %s", list.raw)
	}
	a.expect(a.call("POST", "/v1/tenants", w.adminKey["A"], map[string]any{"name": "x", "slug": "x"}), 403, "forbidden")
}

// TestRoles: on its own tenant a member may read licenses and the tenant,
// nothing else; an admin may do all but the platform's operations, which
// include every commercial term of a license.
func TestRoles(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a := w.a
	for _, e := range w.endpoints("A") {
		t.Run("member "+e.method+" "+e.path, func(t *testing.T) {
			b := *a
			b.t = t
			r := b.call(e.method, e.path, w.memberKey["A"], e.body)
			if e.memberMay {
				if r.status >= 300 {
					t.Fatalf("member refused: %d %s", r.status, r.raw)
				}
				return
			}
			b.expect(r, 403, "forbidden")
		})
	}
	// The admin: 403 on the platform's operations, and what is left of a
	// license (reading it, how its seats are used, its certificate) works.
	// (Not every endpoint: one deletes the admin's own key.)
	lic := "/v1/tenants/" + w.tenant["A"] + "/licenses/" + w.license["A"]
	for _, e := range w.endpoints("A") {
		if !e.platformOnly && !strings.HasPrefix(e.path, lic) {
			continue
		}
		t.Run("admin "+e.method+" "+e.path+fmt.Sprint(e.body), func(t *testing.T) {
			b := *a
			b.t = t
			r := b.call(e.method, e.path, w.adminKey["A"], e.body)
			if e.platformOnly {
				b.expect(r, 403, "forbidden")
				return
			}
			if r.status >= 300 {
				t.Fatalf("admin refused: %d %s", r.status, r.raw)
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	base := "/v1/tenants/" + tenant + "/api-keys"
	c := a.expect(a.admin("POST", base, map[string]any{"name": "ci", "role": "admin"}), 201, "")
	key, id := c.str("key"), c.str("id")
	if !strings.HasPrefix(key, "ak_") || !strings.HasPrefix(key, c.str("key_prefix")) || len(key) < 40 ||
		c.str("role") != "admin" || c.str("created_by") != "bootstrap" || c.body["revoked_at"] != nil {
		t.Fatalf("create = %s", c.raw)
	}
	list := a.expect(a.admin("GET", base, nil), 200, "")
	if strings.Contains(list.raw, key) || !strings.Contains(list.raw, id) {
		t.Fatalf("list = %s", list.raw)
	}
	var stored int
	a.b.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE key_hash = $1 OR key_prefix = $1`, key).Scan(&stored)
	if stored != 0 {
		t.Fatal("the API key is stored in the clear")
	}
	for _, body := range []any{map[string]any{"name": "x", "role": "platform_admin"}, map[string]any{"name": "", "role": "admin"},
		map[string]any{"role": "admin"}, map[string]any{"name": "x", "role": "admin", "key": "mine"}} {
		a.expect(a.admin("POST", base, body), 400, "invalid_request")
	}
	// The key works as a credential, and acts under its own name.
	a.expect(a.call("GET", "/v1/tenants/"+tenant+"/licenses", key, nil), 200, "")
	licenseID, _ := a.license(tenant, nil)
	a.expect(a.call("PATCH", "/v1/tenants/"+tenant+"/licenses/"+licenseID, key, map[string]any{"require_user": true}), 200, "")
	audit := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/audit", nil), 200, "")
	if !strings.Contains(audit.raw, `"actor":"api_key:`+id+`"`) {
		t.Fatalf("audit does not name the key: %s", audit.raw)
	}
	// Revocation takes effect at once.
	if r := a.admin("DELETE", base+"/"+id, nil); r.status != 204 {
		t.Fatalf("revoke = %d %s", r.status, r.raw)
	}
	a.expect(a.call("GET", "/v1/tenants/"+tenant+"/licenses", key, nil), 401, "unauthorized")
	a.expect(a.admin("DELETE", base+"/"+id, nil), 404, "api_key_not_found")
	a.expect(a.call("GET", "/v1/tenants/"+tenant, "ak_"+strings.Repeat("x", 43), nil), 401, "unauthorized")
	if strings.Contains(a.logs(), key) {
		t.Fatal("an API key was logged")
	}
}

// TestRowLevelSecurity: a query that forgets its tenant filter still sees
// only the scoped tenant's rows.
func TestRowLevelSecurity(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	// As the functions connect: each table is read by a role that may
	// read it, and written by the admin role.
	db := testenv.OpenAs(t, w.a.b.DB, database.RoleAdmin)
	reader := testenv.OpenAs(t, w.a.b.DB, database.RoleReader)
	ctx := context.Background()
	// Both tenants' seat events into the ledger, so its tables hold rows of each.
	if res, err := w.a.b.Cleaner.Run(ctx); err != nil || res.Drained == 0 {
		t.Fatalf("drain: %+v %v", res, err)
	}
	for _, table := range []string{"licenses", "api_keys", "workstations", "repositories", "audit_log", "usage_events", "usage_sessions"} {
		db := db
		if table == "audit_log" || table == "usage_events" || table == "usage_sessions" {
			db = reader
		}
		var tenants []string
		err := db.Tx(ctx, database.Tenant(w.tenant["A"]), func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT DISTINCT tenant_id::text FROM `+table) // no filter, on purpose
			if err != nil {
				return err
			}
			tenants, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		if err != nil || len(tenants) != 1 || tenants[0] != w.tenant["A"] {
			t.Errorf("%s under tenant A's scope sees tenants %v (%v)", table, tenants, err)
		}
		var all int
		db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT count(DISTINCT tenant_id) FROM `+table).Scan(&all)
		})
		if all != 2 {
			t.Errorf("%s under platform scope sees %d tenants, want 2", table, all)
		}
	}
	var visible int
	db.Tx(ctx, database.Tenant(w.tenant["A"]), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&visible)
	})
	if visible != 1 {
		t.Errorf("tenant A's scope sees %d tenants", visible)
	}
	// Writing another tenant's row is refused by the policy, not just filtered.
	err := db.Tx(ctx, database.Tenant(w.tenant["A"]), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO repositories (tenant_id, name, remote_url) VALUES ($1, 'x', 'h/x')`, w.tenant["B"])
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Fatalf("insert into another tenant: %v", err)
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	a := newIdentityAPI(t, nil, config.RateLimit{PerLicense: 1, PerLicenseBurst: 3, PerCredential: 1, PerCredentialBurst: 3})
	// The bootstrap credential's burst of 3: a tenant and two licenses.
	tenant := a.tenant("acme")
	_, key := a.license(tenant, map[string]any{"seats": 10})
	_, other := a.license(tenant, map[string]any{"seats": 10})
	r := a.expect(a.admin("GET", "/v1/tenants", nil), 429, "rate_limited")
	if r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Limit") == "" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: %v", r.header)
	}
	for i := range 3 {
		g := a.expect(a.acquire(key, fmt.Sprint("ws", i)), 200, "")
		if g.header.Get("RateLimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("acquire %d RateLimit-Remaining = %q", i, g.header.Get("RateLimit-Remaining"))
		}
	}
	a.expect(a.acquire(key, "ws9"), 429, "rate_limited")
	// The limit is per license key: another license is not held back by it.
	a.expect(a.acquire(other, "ws9"), 200, "")
}
