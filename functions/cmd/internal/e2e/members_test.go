package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// serviceURL is the audience of the Google-signed service-account tokens
// in these tests (AUTH_GOOGLE_AUDIENCE).
const serviceURL = "https://api.test.example"

// peopleAPI serves every function with the local identity provider p and
// a local stand-in for Google's keys (google), as compose.Build wires them
// from AUTH_* and AUTH_GOOGLE_*. The authenticator's warnings (the
// bootstrap token's) go to warn.
type peopleAPI struct {
	*api
	p, google *idp
	warn      *testenv.LogBuffer
}

func newPeopleAPI(t *testing.T, bootstrapAfter bool) *peopleAPI {
	t.Helper()
	b, prefix := testenv.Backend(t)
	p, google := newIDP(t), newIDP(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	gv, err := jwtauth.New(ctx, jwtauth.Config{JWKSURL: google.srv.URL, Issuer: auth.GoogleIssuer, Audience: serviceURL,
		HTTPClient: google.srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gv.Close)
	if err := gv.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	warn := &testenv.LogBuffer{}
	testenv.NoteSecret(t, adminToken)
	settings := compose.AuthSettings{BootstrapToken: adminToken, BootstrapAfterPlatformAdmin: bootstrapAfter,
		Verifier: p.verifier(t), ServiceAccounts: gv, Logger: logging.New(warn, slog.LevelInfo)}
	authn, err := compose.AuthenticatorWith(b, settings)
	if err != nil {
		t.Fatal(err)
	}
	fns, err := allHTTP(t, ctx, compose.Deps{Backend: b, Authn: authn, Root: testRoot(t), Issuer: testIssuer,
		Logger: slog.New(slog.DiscardHandler)},
		func(rb *backend.Backend) (*auth.Authenticator, error) { return compose.AuthenticatorWith(rb, settings) })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: logging.New(logs, slog.LevelInfo)}, fns...))
	t.Cleanup(srv.Close)
	return &peopleAPI{api: &api{t: t, srv: srv, b: b, log: logs, prefix: prefix}, p: p, google: google, warn: warn}
}

// person mints an ID token of the local identity provider for subject
// and e-mail, verified unless said otherwise.
func (a *peopleAPI) person(sub, email string, verified bool) string {
	return a.p.token(a.t, jwt.MapClaims{"sub": sub, "email": email, "email_verified": verified})
}

// serviceAccount mints a Google-shaped ID token of a service account.
func (a *peopleAPI) serviceAccount(email string, claims jwt.MapClaims) string {
	base := jwt.MapClaims{"iss": auth.GoogleIssuer, "aud": serviceURL, "sub": "1170000000" + fmt.Sprint(len(email)),
		"email": email, "email_verified": true, "azp": "1170000000"}
	for k, v := range claims {
		base[k] = v
	}
	return a.google.token(a.t, base)
}

func (a *peopleAPI) invite(tenantID, token, email, role string) string {
	path := "/v1/tenants/" + tenantID + "/members"
	if tenantID == "" {
		path = "/v1/platform/members"
	}
	r := a.expect(a.call("POST", path, token, map[string]any{"email": email, "role": role}), 201, "")
	if r.str("status") != "pending" || r.str("email") != strings.ToLower(email) || r.str("role") != role {
		a.t.Fatalf("invitation answered %v", r.body)
	}
	return r.str("id")
}

// TestPeopleSignInByMembership is issue 17's sign-in: an invited e-mail
// signs in and gets exactly its role in exactly its tenant, and every
// identity that is not a live member is refused with the contract's code.
func TestPeopleSignInByMembership(t *testing.T) {
	t.Parallel()
	a := newPeopleAPI(t, false)
	acme, beta, gamma := a.tenant("acme"), a.tenant("beta"), a.tenant("gamma")
	a.invite(acme, adminToken, "Ada@Example.com", "admin")
	a.invite(beta, adminToken, "ada@example.com", "member")
	ada := a.person("ada-sub", "ada@example.com", true)

	// GET /v1/me: a person in two tenants, with the right role in each.
	me := a.expect(a.call("GET", "/v1/me", ada, nil), 200, "")
	if me.str("actor") != "user:ada@example.com" || me.str("email") != "ada@example.com" || me.str("subject") != "ada-sub" ||
		me.str("issuer") != issuer || me.body["platform_admin"] != false {
		t.Fatalf("/v1/me = %v", me.body)
	}
	got := map[string]string{}
	for _, m := range me.body["memberships"].([]any) {
		m := m.(map[string]any)
		got[m["tenant_id"].(string)] = m["role"].(string)
	}
	if want := map[string]string{acme: "admin", beta: "member"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("/v1/me memberships = %v, want %v", got, want)
	}
	// GET /v1/tenants: exactly hers.
	var listed []string
	for _, x := range a.expect(a.call("GET", "/v1/tenants", ada, nil), 200, "").body["tenants"].([]any) {
		listed = append(listed, x.(map[string]any)["id"].(string))
	}
	slices.Sort(listed)
	want := []string{acme, beta}
	slices.Sort(want)
	if !slices.Equal(listed, want) {
		t.Fatalf("GET /v1/tenants = %v, want %v", listed, want)
	}
	// Admin of acme: manages its members. Member of beta: reads, cannot
	// change. Gamma: not hers, as if it did not exist.
	a.expect(a.call("GET", "/v1/tenants/"+acme+"/api-keys", ada, nil), 200, "")
	a.expect(a.call("GET", "/v1/tenants/"+beta+"/members", ada, nil), 200, "")
	a.expect(a.call("POST", "/v1/tenants/"+beta+"/members", ada, map[string]any{"email": "x@example.com", "role": "admin"}), 403, "forbidden")
	a.expect(a.call("GET", "/v1/tenants/"+beta+"/api-keys", ada, nil), 403, "forbidden")
	a.expect(a.call("GET", "/v1/tenants/"+gamma, ada, nil), 404, "tenant_not_found")
	a.expect(a.call("GET", "/v1/tenants/"+gamma+"/members", ada, nil), 404, "tenant_not_found")
	a.expect(a.call("GET", "/v1/platform/members", ada, nil), 403, "forbidden")
	a.expect(a.call("POST", "/v1/tenants", ada, map[string]any{"name": "Evil", "slug": "evil"}), 403, "forbidden")

	// Ada invites Bob: audited under her name, and nothing secret in it.
	bob := a.invite(acme, ada, "bob@example.com", "member")
	a.expect(a.call("POST", "/v1/tenants/"+acme+"/members", ada, map[string]any{"email": "BOB@example.com", "role": "admin"}), 409, "member_exists")
	a.expect(a.call("POST", "/v1/tenants/"+acme+"/members", ada, map[string]any{"email": "not-an-email", "role": "admin"}), 400, "invalid_request")
	a.expect(a.call("POST", "/v1/tenants/"+acme+"/members", ada, map[string]any{"email": "c@example.com", "role": "owner"}), 400, "invalid_request")

	refused := []struct {
		name, token, code string
	}{
		{"an unverified e-mail", a.person("bob-sub", "bob@example.com", false), "email_not_verified"},
		{"an unknown e-mail", a.person("carol-sub", "carol@example.com", true), "not_a_member"},
		// Ada's memberships are bound to ada-sub: another subject whose
		// e-mail was changed to hers at the provider gets none of them.
		{"a changed e-mail after binding", a.person("mallory-sub", "ada@example.com", true), "not_a_member"},
		{"role and tenant_id claims alone", a.p.token(t, jwt.MapClaims{"sub": "claims-sub", "email": "eve@example.com",
			"email_verified": true, "role": "platform_admin", "tenant_id": acme}), "not_a_member"},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			c := *a.api
			c.t = t
			c.expect(c.call("GET", "/v1/me", r.token, nil), 401, r.code)
			c.expect(c.call("GET", "/v1/tenants/"+acme+"/members", r.token, nil), 401, r.code)
		})
	}
	// Bob, once verified, signs in as a member of acme; removed, he is
	// refused on his next call.
	bobToken := a.person("bob-sub", "bob@example.com", true)
	a.expect(a.call("GET", "/v1/tenants/"+acme+"/members", bobToken, nil), 200, "")
	a.expect(a.call("GET", "/v1/tenants/"+acme+"/members/"+bob, ada, nil), 200, "")
	a.expect(a.call("DELETE", "/v1/tenants/"+acme+"/members/"+bob, ada, nil), 204, "")
	a.expect(a.call("DELETE", "/v1/tenants/"+acme+"/members/"+bob, ada, nil), 404, "member_not_found")
	a.expect(a.call("GET", "/v1/tenants/"+acme+"/members", bobToken, nil), 401, "not_a_member")

	// The audit log names Ada, by e-mail, for the invitation and the
	// removal, and Bob for his binding at sign-in.
	entries := a.expect(a.admin("GET", "/v1/tenants/"+acme+"/audit", nil), 200, "").body["entries"].([]any)
	seen := map[string]bool{}
	for _, e := range entries {
		e := e.(map[string]any)
		if e["target_id"] == bob {
			seen[e["actor"].(string)+" "+e["action"].(string)] = true
		}
	}
	for _, w := range []string{"user:ada@example.com member.create", "user:bob@example.com member.update", "user:ada@example.com member.delete"} {
		if !seen[w] {
			t.Errorf("audit log lacks %q: %v", w, seen)
		}
	}
}

// TestLastAdminRule: the last admin of a tenant can be neither demoted nor
// removed (409 last_admin), also when two admins demote each other at
// once: exactly one of the two demotions passes.
func TestLastAdminRule(t *testing.T) {
	t.Parallel()
	a := newPeopleAPI(t, false)
	for round := range 5 {
		tenant := a.tenant(fmt.Sprintf("t%d", round))
		ids := []string{a.invite(tenant, adminToken, "a@example.com", "admin"), a.invite(tenant, adminToken, "b@example.com", "admin")}
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, id := range ids {
			wg.Go(func() {
				statuses[i] = a.call("PATCH", "/v1/tenants/"+tenant+"/members/"+id, adminToken, map[string]any{"role": "member"}).status
			})
		}
		wg.Wait()
		slices.Sort(statuses)
		if statuses[0] != 200 || statuses[1] != 409 {
			t.Fatalf("round %d: two concurrent demotions answered %v, want one 200 and one 409", round, statuses)
		}
		var admin, member string
		for _, id := range ids {
			if a.admin("GET", "/v1/tenants/"+tenant+"/members/"+id, nil).str("role") == "admin" {
				admin = id
			} else {
				member = id
			}
		}
		a.expect(a.admin("DELETE", "/v1/tenants/"+tenant+"/members/"+admin, nil), 409, "last_admin")
		a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/members/"+admin, map[string]any{"role": "member"}), 409, "last_admin")
		// A member can go; an admin may be promoted, and then the other
		// admin may go.
		a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/members/"+member, map[string]any{"role": "admin"}), 200, "")
		a.expect(a.admin("DELETE", "/v1/tenants/"+tenant+"/members/"+admin, nil), 204, "")
	}
}

// TestServiceAccountTokens: a Google-signed ID token of a service account
// works only once a tenant registered its e-mail, and only there.
func TestServiceAccountTokens(t *testing.T) {
	t.Parallel()
	a := newPeopleAPI(t, false)
	acme, beta := a.tenant("acme"), a.tenant("beta")
	const sa = "ci@acme-prod.iam.gserviceaccount.com"
	tok := a.serviceAccount(sa, nil)
	a.expect(a.call("GET", "/v1/tenants/"+acme+"/members", tok, nil), 401, "not_a_member")
	r := a.expect(a.admin("POST", "/v1/tenants/"+acme+"/members", map[string]any{"email": sa, "role": "member", "kind": "service_account"}), 201, "")
	if r.str("kind") != "service_account" {
		t.Fatalf("registration answered %v", r.body)
	}
	a.expect(a.call("GET", "/v1/tenants/"+acme+"/members", tok, nil), 200, "")
	a.expect(a.call("GET", "/v1/tenants/"+beta+"/members", tok, nil), 404, "tenant_not_found")
	if me := a.expect(a.call("GET", "/v1/me", tok, nil), 200, ""); me.str("actor") != "user:"+sa || me.str("issuer") != auth.GoogleIssuer {
		t.Fatalf("/v1/me = %v", me.body)
	}
	for name, bad := range map[string]string{
		"another audience": a.serviceAccount(sa, jwt.MapClaims{"aud": "https://other.example"}),
		"expired":          a.serviceAccount(sa, jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()}),
		// Signed by the identity provider's key, naming Google as issuer.
		"not Google's key": a.p.token(t, jwt.MapClaims{"iss": auth.GoogleIssuer, "aud": serviceURL, "email": sa, "email_verified": true}),
	} {
		t.Run(name, func(t *testing.T) {
			c := *a.api
			c.t = t
			c.expect(c.call("GET", "/v1/tenants/"+acme+"/members", bad, nil), 401, "unauthorized")
		})
	}
}

// TestBootstrapTokenRetiresWhenAPlatformAdminSignsIn: the bootstrap token
// works (each use a warning, never the token) until the first platform
// admin signs in; then it is refused (401 bootstrap_retired), unless
// BOOTSTRAP_ADMIN_AFTER_PLATFORM_ADMIN=allow.
func TestBootstrapTokenRetiresWhenAPlatformAdminSignsIn(t *testing.T) {
	t.Parallel()
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			t.Parallel()
			a := newPeopleAPI(t, allow)
			a.t = t
			id := a.invite("", adminToken, "root@vendor.example", "admin")
			a.expect(a.call("POST", "/v1/platform/members", adminToken, map[string]any{"email": "x@vendor.example", "role": "member"}), 400, "invalid_request")
			// Pending: the bootstrap token still works.
			a.expect(a.admin("GET", "/v1/tenants", nil), 200, "")
			if w := a.warn.String(); !strings.Contains(w, "bootstrap admin token used") || strings.Contains(w, adminToken) {
				t.Fatalf("bootstrap use logged as %q", w)
			}
			root := a.person("root-sub", "root@vendor.example", true)
			me := a.expect(a.call("GET", "/v1/me", root, nil), 200, "")
			if me.body["platform_admin"] != true {
				t.Fatalf("/v1/me = %v", me.body)
			}
			// A platform admin by name: creates tenants, audited as such.
			tenant := a.expect(a.call("POST", "/v1/tenants", root, map[string]any{"name": "Acme", "slug": "acme"}), 201, "").str("id")
			a.invite(tenant, root, "ada@example.com", "admin")
			a.expect(a.call("DELETE", "/v1/platform/members/"+id, root, nil), 409, "last_admin")
			if allow {
				a.expect(a.admin("GET", "/v1/tenants", nil), 200, "")
			} else {
				a.expect(a.admin("GET", "/v1/tenants", nil), 401, "bootstrap_retired")
			}
		})
	}
}
