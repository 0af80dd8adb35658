package e2e_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// termsWorld is a tenant with a live license (a seat held) and a suspended
// one, and a credential of every role: the platform (bootstrap token and a
// platform ID token), the tenant's admin (API key and ID token) and its
// member (API key and ID token).
type termsWorld struct {
	f         *hostileFixture
	suspended string
	creds     map[string]string // name -> bearer credential
	platform  map[string]bool   // name -> acts for the platform
}

func newTermsWorld(t *testing.T) *termsWorld {
	t.Helper()
	p := newIDP(t)
	b, prefix := testenv.Backend(t)
	// The bootstrap token stays a platform credential here after the
	// platform's person signs in: this test compares the two.
	api := serveWithAuth(t, b, compose.AuthSettings{Verifier: p.verifier(t), BootstrapAfterPlatformAdmin: true})
	api.prefix = prefix
	f := newHostileFixtureOn(t, api)
	a, tenant := f.a, f.ids["{tenant}"]
	suspended, _ := a.license(tenant, map[string]any{"seats": 3})
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/licenses/"+suspended, map[string]any{"status": "suspended"}), 200, "")
	key := func(role string) string {
		return a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys", map[string]any{"name": role, "role": role}), 201, "").str("key")
	}
	// People: invited by e-mail, signed in with that e-mail verified; the
	// membership, not a claim, gives each its role.
	person := func(path, email, role string) string {
		a.expect(a.admin("POST", path, map[string]any{"email": email, "role": role}), 201, "")
		tok := p.token(t, jwt.MapClaims{"sub": "sub-" + email, "email": email, "email_verified": true})
		// Signed in once now, so the binding (a change of its own) is
		// made before the tests compare snapshots.
		a.expect(a.call("GET", "/v1/me", tok, nil), 200, "")
		return tok
	}
	return &termsWorld{f: f, suspended: suspended,
		creds: map[string]string{
			"bootstrap":             adminToken,
			"platform ID token":     person("/v1/platform/members", "root@vendor.example", "admin"),
			"tenant admin API key":  key("admin"),
			"tenant admin ID token": person("/v1/tenants/"+tenant+"/members", "admin@acme.example", "admin"),
			"member API key":        key("member"),
			"member ID token":       person("/v1/tenants/"+tenant+"/members", "member@acme.example", "member"),
		},
		platform: map[string]bool{"bootstrap": true, "platform ID token": true}}
}

// commercialOps are the operations on commercial terms, each with what the
// platform gets.
func (w *termsWorld) commercialOps() []struct {
	name, method, path string
	body               any
	platformGets       int
} {
	ten := "/v1/tenants/" + w.f.ids["{tenant}"]
	lic := ten + "/licenses/" + w.f.ids["{license}"]
	future := time.Now().Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	return []struct {
		name, method, path string
		body               any
		platformGets       int
	}{
		{"create a license", "POST", ten + "/licenses", map[string]any{"product": "free", "seats": 100000}, 201},
		{"raise seats", "PATCH", lic, map[string]any{"seats": 100000}, 200},
		{"set expires_at", "PATCH", lic, map[string]any{"expires_at": future}, 200},
		{"clear expires_at", "PATCH", lic, map[string]any{"expires_at": nil}, 200},
		{"re-activate a suspended license", "PATCH", ten + "/licenses/" + w.suspended, map[string]any{"status": "active"}, 200},
		{"suspend a license", "PATCH", ten + "/licenses/" + w.suspended, map[string]any{"status": "suspended"}, 200},
		{"raise max_lease_ttl_seconds", "PATCH", lic, map[string]any{"max_lease_ttl_seconds": 86400}, 200},
		{"set the overage policy", "PATCH", lic, map[string]any{"overage": map[string]any{"mode": "percent", "value": 20}}, 200},
		{"overage with a usage field", "PATCH", lic, map[string]any{"linger_seconds": 0, "overage": map[string]any{"mode": "none"}}, 200},
		{"a usage field with seats", "PATCH", lic, map[string]any{"require_user": true, "seats": 50}, 200},
		{"a usage field with status", "PATCH", lic, map[string]any{"leasing": "per_fingerprint", "status": "active"}, 200},
		{"lease TTL with its ceiling", "PATCH", lic, map[string]any{"lease_ttl_seconds": 7200, "max_lease_ttl_seconds": 7200}, 200},
		{"re-activate the tenant", "PATCH", ten, map[string]any{"status": "active"}, 200},
		{"delete a license", "DELETE", ten + "/licenses/" + w.suspended, nil, 204},
	}
}

// TestCommercialTermsArePlatformOnly: every commercial operation, by every
// tenant role and credential kind, is 403 forbidden and changes nothing in
// PostgreSQL or Redis (a PATCH mixing a usage field with a commercial one
// included: refused whole); the platform, by bootstrap token or ID token,
// may do each.
func TestCommercialTermsArePlatformOnly(t *testing.T) {
	t.Parallel()
	w := newTermsWorld(t)
	a, f := w.f.a, w.f
	before := f.snapshot(t)
	for _, cred := range []string{"tenant admin API key", "tenant admin ID token", "member API key", "member ID token"} {
		for _, op := range w.commercialOps() {
			t.Run(cred+": "+op.name, func(t *testing.T) {
				b := *a
				b.t = t
				b.expect(b.call(op.method, op.path, w.creds[cred], op.body), 403, "forbidden")
				if d := before.diff(f.snapshot(t)); d != "" {
					t.Fatalf("a refused %s changed %s", op.name, d)
				}
			})
		}
	}
	// product cannot be changed by anyone (it names what was sold); a
	// tenant admin gets the same 400 as the platform.
	lic := "/v1/tenants/" + f.ids["{tenant}"] + "/licenses/" + f.ids["{license}"]
	for _, cred := range []string{"bootstrap", "tenant admin API key"} {
		a.expect(a.call("PATCH", lic, w.creds[cred], map[string]any{"product": "other"}), 400, "invalid_request")
	}
	if d := before.diff(f.snapshot(t)); d != "" {
		t.Fatalf("refused requests changed %s", d)
	}

	// The platform may do each, by either credential.
	for i, op := range w.commercialOps() {
		cred := []string{"bootstrap", "platform ID token"}[i%2]
		r := a.call(op.method, op.path, w.creds[cred], op.body)
		if r.status != op.platformGets {
			t.Fatalf("%s: %s got %d, want %d: %s", cred, op.name, r.status, op.platformGets, r.raw)
		}
	}
	var seats, maxTTL, ttl int
	var requireUser bool
	if err := a.b.DB.Pool.QueryRow(context.Background(), `SELECT seats, max_lease_ttl_seconds, lease_ttl_seconds, require_user
		FROM licenses WHERE id = $1`, f.ids["{license}"]).Scan(&seats, &maxTTL, &ttl, &requireUser); err != nil {
		t.Fatal(err)
	}
	if seats != 50 || maxTTL != 7200 || ttl != 7200 || !requireUser {
		t.Fatalf("after the platform's changes: seats %d, max TTL %d, TTL %d, require_user %v", seats, maxTTL, ttl, requireUser)
	}
}

// TestTenantAdminSetsUsage: a tenant admin (API key or ID token) may set
// how the seats are used and ask for a certificate; the lease TTL stays
// within the platform's ceiling, for the platform too unless it raises the
// ceiling in the same request.
func TestTenantAdminSetsUsage(t *testing.T) {
	t.Parallel()
	w := newTermsWorld(t)
	a, f := w.f.a, w.f
	lic := "/v1/tenants/" + f.ids["{tenant}"] + "/licenses/" + f.ids["{license}"]
	// The fixture's license has a TTL of 3600 under the default ceiling.
	def := a.expect(a.admin("GET", lic, nil), 200, "")
	if def.num("max_lease_ttl_seconds") != 86400 || def.num("lease_ttl_seconds") != 3600 {
		t.Fatalf("license = %s", def.raw)
	}
	for _, cred := range []string{"tenant admin API key", "tenant admin ID token"} {
		tok := w.creds[cred]
		r := a.expect(a.call("PATCH", lic, tok, map[string]any{"require_user": true, "max_seats_per_user": 1,
			"leasing": "per_user", "lease_ttl_seconds": 600, "max_instances_per_seat": 4,
			"linger_seconds": 300, "revive_seconds": 60}), 200, "")
		if !r.body["require_user"].(bool) || r.num("max_seats_per_user") != 1 || r.str("leasing") != "per_user" ||
			r.num("lease_ttl_seconds") != 600 || r.num("max_instances_per_seat") != 4 ||
			r.num("linger_seconds") != 300 || r.num("revive_seconds") != 60 {
			t.Fatalf("%s: patch = %s", cred, r.raw)
		}
		r = a.expect(a.call("PATCH", lic, tok, map[string]any{"require_user": false, "max_seats_per_user": nil,
			"leasing": "per_fingerprint", "lease_ttl_seconds": 3600, "max_instances_per_seat": nil,
			"linger_seconds": 0, "revive_seconds": 0}), 200, "")
		if r.body["max_instances_per_seat"] != nil || r.num("linger_seconds") != 0 || r.num("revive_seconds") != 0 {
			t.Fatalf("%s: max_instances_per_seat, linger_seconds or revive_seconds not cleared: %s", cred, r.raw)
		}
		a.expect(a.call("POST", lic+"/certificate", tok, nil), 200, "")
		// The member reads, and no more.
		a.expect(a.call("PATCH", lic, w.creds["member API key"], map[string]any{"require_user": true}), 403, "forbidden")
	}

	// The platform lowers the ceiling: the current TTL (3600) is over it,
	// so lowering it alone is refused and changes nothing.
	a.expect(a.admin("PATCH", lic, map[string]any{"max_lease_ttl_seconds": 600}), 400, "invalid_request")
	a.expect(a.admin("PATCH", lic, map[string]any{"max_lease_ttl_seconds": 600, "lease_ttl_seconds": 600}), 200, "")
	for _, cred := range []string{"tenant admin API key", "tenant admin ID token", "bootstrap"} {
		a.expect(a.call("PATCH", lic, w.creds[cred], map[string]any{"lease_ttl_seconds": 601}), 400, "invalid_request")
		a.expect(a.call("PATCH", lic, w.creds[cred], map[string]any{"lease_ttl_seconds": 120}), 200, "")
	}
	// Raising the ceiling in the same request lets the platform go over
	// the old one; a ceiling under the TTL sent with it is refused.
	a.expect(a.admin("PATCH", lic, map[string]any{"max_lease_ttl_seconds": 100, "lease_ttl_seconds": 200}), 400, "invalid_request")
	r := a.expect(a.admin("PATCH", lic, map[string]any{"max_lease_ttl_seconds": 1200, "lease_ttl_seconds": 1200}), 200, "")
	if r.num("max_lease_ttl_seconds") != 1200 || r.num("lease_ttl_seconds") != 1200 {
		t.Fatalf("patch = %s", r.raw)
	}
	for _, bad := range []any{0, 86401, nil, "600"} {
		a.expect(a.admin("PATCH", lic, map[string]any{"max_lease_ttl_seconds": bad}), 400, "invalid_request")
	}

	// Create: the ceiling defaults to a day; a lower one lowers the
	// default TTL with it; a TTL over it is refused.
	base := "/v1/tenants/" + f.ids["{tenant}"] + "/licenses"
	c := a.expect(a.admin("POST", base, map[string]any{"product": "p", "seats": 1, "max_lease_ttl_seconds": 60}), 201, "")
	if c.num("max_lease_ttl_seconds") != 60 || c.num("lease_ttl_seconds") != 60 {
		t.Fatalf("create = %s", c.raw)
	}
	a.expect(a.admin("POST", base, map[string]any{"product": "p", "seats": 1, "max_lease_ttl_seconds": 60,
		"lease_ttl_seconds": 61}), 400, "invalid_request")
	for _, bad := range []any{0, 86401, nil} {
		a.expect(a.admin("POST", base, map[string]any{"product": "p", "seats": 1, "max_lease_ttl_seconds": bad}), 400, "invalid_request")
	}
	// What the tenant admins did is audited under their own names: the API
	// key's and the ID token's subject, two license updates each (and one
	// more each for the lease TTL under the cap).
	audit := a.expect(a.admin("GET", "/v1/tenants/"+f.ids["{tenant}"]+"/audit?limit=200", nil), 200, "")
	by := map[string]int{}
	for _, e := range audit.body["entries"].([]any) {
		m := e.(map[string]any)
		if m["action"] != "license.update" {
			continue
		}
		actor, _ := m["actor"].(string)
		kind, _, _ := strings.Cut(actor, ":")
		by[kind]++
	}
	if by["api_key"] != 3 || by["user"] != 3 {
		t.Fatalf("license updates by actor kind = %v, want 3 by the API key and 3 by the ID token's user: %s", by, audit.raw)
	}
}

// TestBrowserCallsAndHSTS: every function served as production serves it,
// with CORS_ALLOWED_ORIGINS read by config: the console's origin gets a
// preflight answer naming the route's methods and can read real answers;
// another origin gets no CORS header; answers the load balancer marks as
// HTTPS carry Strict-Transport-Security, plain ones do not.
func TestBrowserCallsAndHSTS(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(config.MapLookup(map[string]string{"CORS_ALLOWED_ORIGINS": "https://console.example"}))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := testenv.Backend(t)
	authn, err := authnOn(b, config.RateLimit{})
	if err != nil {
		t.Fatal(err)
	}
	fns, err := allHTTP(t, t.Context(), compose.Deps{Backend: b, Authn: authn, Root: testRoot(t), Issuer: testIssuer,
		Logger: slog.New(slog.DiscardHandler)}, func(rb *backend.Backend) (*auth.Authenticator, error) {
		return authnOn(rb, config.RateLimit{})
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: slog.New(slog.DiscardHandler), CORSOrigins: cfg.CORSAllowedOrigins}, fns...))
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, b: b}
	tenant := a.tenant("acme")
	path := "/v1/tenants/" + tenant + "/licenses"

	send := func(method, origin string, header map[string]string) reply {
		req := mustRequest(t, method, srv.URL+path, "")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		return a.do(req)
	}
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
	pre := send("OPTIONS", "https://console.example", preflight)
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		pre.header.Get("Access-Control-Allow-Methods") != "GET, HEAD, POST" ||
		pre.header.Get("Access-Control-Allow-Headers") != "Authorization, Content-Type, Idempotency-Key" {
		t.Fatalf("preflight = %d %v", pre.status, pre.header)
	}
	list := send("GET", "https://console.example", map[string]string{"X-Forwarded-Proto": "https"})
	if list.status != 200 || list.header.Get("Access-Control-Allow-Origin") != "https://console.example" ||
		list.header.Get("Strict-Transport-Security") != route.HSTS || list.header.Get("Access-Control-Allow-Credentials") != "" ||
		!strings.Contains(list.header.Get("Access-Control-Expose-Headers"), "Idempotent-Replayed") {
		t.Fatalf("GET from the console = %d %v", list.status, list.header)
	}
	a.expect(send("OPTIONS", "https://evil.example", preflight), 405, "method_not_allowed")
	other := send("GET", "https://evil.example", nil)
	for k := range other.header {
		if strings.HasPrefix(k, "Access-Control-") || k == "Strict-Transport-Security" {
			t.Errorf("GET from another origin over plain HTTP has %s: %v", k, other.header)
		}
	}
}
