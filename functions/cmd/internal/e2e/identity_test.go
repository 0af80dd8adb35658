package e2e_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/testenv"
)

const (
	issuer   = "https://securetoken.google.com/test-project"
	audience = "test-project"
)

// idp is a local identity provider: an RSA key served as a JWKS over TLS.
type idp struct {
	key *rsa.PrivateKey
	kid string
	srv *httptest.Server
	mu  sync.Mutex
}

// rotate replaces the key (and kid) the JWKS serves: the old one is gone.
func (p *idp) rotate(t *testing.T, kid string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.key, p.kid = key, kid
	p.mu.Unlock()
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key, kid: "k1"}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		defer p.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": p.kid, "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(p.key.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(p.key.E)).Bytes())}}})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) verifier(t *testing.T) *jwtauth.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := jwtauth.New(ctx, jwtauth.Config{JWKSURL: p.srv.URL, Issuer: issuer, Audience: audience,
		HTTPClient: p.srv.Client(), MinRefreshInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	if err := v.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

// token mints an ID token; mod changes claims before signing.
func (p *idp) token(t *testing.T, claims jwt.MapClaims, mod ...func(*jwt.Token)) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	base := jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "user-1", "email": "ada@example.com",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(base, k)
			continue
		}
		base[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, base)
	tok.Header["kid"] = p.kid
	for _, m := range mod {
		m(tok)
	}
	s, err := tok.SignedString(p.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newIdentityAPI serves every function with the identity provider and the
// given rate limits.
func newIdentityAPI(t *testing.T, p *idp, limits config.RateLimit) *api {
	t.Helper()
	b, prefix := testenv.Backend(t)
	var a *api
	if p != nil {
		a = serveWith(t, b, p.verifier(t), limits)
	} else {
		a = serveWith(t, b, nil, limits)
	}
	a.prefix = prefix
	return a
}

// TestIDTokens: a verified ID token signs a person in by their membership,
// whichever way the token names its Identity Platform tenant; a forged,
// expired or misaddressed token is 401, and role or tenant_id claims grant
// nothing by themselves (the membership table is the only source of roles).
func TestIDTokens(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	a := newIdentityAPI(t, p, config.RateLimit{})
	tenant := a.tenant("acme")
	other := a.tenant("other")
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant, map[string]any{"idp_tenant_id": "acme-idp"}), 200, "")
	for _, m := range []struct{ tenant, email, role string }{
		{tenant, "ada@example.com", "admin"}, {tenant, "ida@example.com", "admin"}, {other, "oscar@example.com", "admin"},
		{"", "root@vendor.example", "admin"},
	} {
		path := "/v1/tenants/" + m.tenant + "/members"
		if m.tenant == "" {
			path = "/v1/platform/members"
		}
		a.expect(a.admin("POST", path, map[string]any{"email": m.email, "role": m.role}), 201, "")
	}
	path := "/v1/tenants/" + tenant + "/licenses"
	ada := jwt.MapClaims{"email_verified": true}
	acmeIDP := map[string]any{"tenant": "acme-idp"}

	// A valid token of each way of naming the tenant works.
	for name, claims := range map[string]jwt.MapClaims{
		"the project's own users":  ada,
		"identity platform tenant": {"sub": "ida", "email": "ida@example.com", "email_verified": true, "firebase": acmeIDP},
	} {
		t.Run(name, func(t *testing.T) {
			b := *a
			b.t = t
			b.expect(b.call("GET", path, p.token(t, claims), nil), 200, "")
		})
	}

	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "user-1",
		"email": "ada@example.com", "email_verified": true, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	hs.Header["kid"] = p.kid
	pubDER := p.key.PublicKey.N.Bytes()
	hsToken, _ := hs.SignedString(pubDER)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "user-1",
		"email": "ada@example.com", "email_verified": true, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	none.Header["kid"] = p.kid
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	good := p.token(t, ada)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"ada@`, `"root@`, 1))) + "." + parts[2]
	with := func(extra jwt.MapClaims) jwt.MapClaims {
		out := jwt.MapClaims{"email_verified": true}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}

	rejected := map[string]struct{ token, code string }{
		"alg none":                  {noneToken, "unauthorized"},
		"HS256 with the public key": {hsToken, "unauthorized"},
		"expired":                   {p.token(t, with(jwt.MapClaims{"exp": time.Now().Add(-time.Hour).Unix()})), "unauthorized"},
		"not yet valid":             {p.token(t, with(jwt.MapClaims{"nbf": time.Now().Add(time.Hour).Unix()})), "unauthorized"},
		"wrong issuer":              {p.token(t, with(jwt.MapClaims{"iss": "https://evil.example"})), "unauthorized"},
		"wrong audience":            {p.token(t, with(jwt.MapClaims{"aud": "other"})), "unauthorized"},
		"unknown kid":               {p.token(t, ada, func(t *jwt.Token) { t.Header["kid"] = "nope" }), "unauthorized"},
		"tampered payload":          {tampered, "unauthorized"},
		// Claims alone grant nothing: no membership, no access.
		"role and tenant_id claims of no member": {p.token(t, with(jwt.MapClaims{"sub": "eve", "email": "eve@example.com",
			"role": "admin", "tenant_id": tenant})), "not_a_member"},
		"unmapped idp tenant": {p.token(t, with(jwt.MapClaims{"firebase": map[string]any{"tenant": "nobody"}})), "unauthorized"},
		// A customer's Identity Platform tenant lets its admins mint any
		// verified e-mail: none of them may claim a platform membership,
		// nor another tenant's.
		"platform member's e-mail from a customer's idp tenant": {p.token(t, with(jwt.MapClaims{"sub": "fake-root",
			"email": "root@vendor.example", "role": "platform_admin", "firebase": acmeIDP})), "not_a_member"},
		"another tenant's member from a customer's idp tenant": {p.token(t, with(jwt.MapClaims{"sub": "fake-oscar",
			"email": "oscar@example.com", "firebase": acmeIDP})), "not_a_member"},
	}
	for name, r := range rejected {
		t.Run(name, func(t *testing.T) {
			b := *a
			b.t = t
			b.expect(b.call("GET", path, r.token, nil), 401, r.code)
		})
	}

	// A tenant_id claim never widens a membership: Ida, of acme's
	// Identity Platform tenant, naming another tenant, is still only
	// acme's.
	otherPath := "/v1/tenants/" + other + "/licenses"
	confused := p.token(t, jwt.MapClaims{"sub": "ida", "email": "ida@example.com", "email_verified": true, "role": "platform_admin",
		"tenant_id": other, "firebase": acmeIDP})
	a.expect(a.call("GET", otherPath, confused, nil), 404, "tenant_not_found")
	a.expect(a.call("GET", path, confused, nil), 200, "")

	// A key removed from the JWKS stops working once it is refetched.
	a.expect(a.call("GET", path, good, nil), 200, "")
	p.rotate(t, "k2")
	// A token of the new key (unknown kid) triggers the refetch that also
	// learns the old key is gone.
	a.expect(a.call("GET", path, p.token(t, ada), nil), 200, "")
	a.expect(a.call("GET", path, good, nil), 401, "unauthorized")
	if strings.Contains(a.logs(), good) {
		t.Fatal("a token was logged")
	}
	// Last (it retires the bootstrap token): the platform's own member is
	// a platform admin.
	a.expect(a.call("GET", "/v1/tenants", p.token(t, with(jwt.MapClaims{"sub": "root", "email": "root@vendor.example"})), nil), 200, "")
}

// TestPlatformRolesComeFromThePlatformsTenant: with AUTH_PLATFORM_IDP_TENANT
// set, a platform membership is claimed by tokens of that Identity Platform
// tenant only, neither by a customer's nor by the project's own tokens,
// whatever e-mail and role claims they carry.
func TestPlatformRolesComeFromThePlatformsTenant(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	b, prefix := testenv.Backend(t)
	a := serveWithPlatform(t, b, p.verifier(t), "vendor-staff", config.RateLimit{})
	a.prefix = prefix
	tenant := a.tenant("acme")
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant, map[string]any{"idp_tenant_id": "acme-idp"}), 200, "")
	a.expect(a.admin("POST", "/v1/platform/members", map[string]any{"email": "root@vendor.example", "role": "admin"}), 201, "")
	root := jwt.MapClaims{"email": "root@vendor.example", "email_verified": true, "role": "platform_admin"}
	claims := func(sub string, firebase map[string]any) jwt.MapClaims {
		out := jwt.MapClaims{"sub": sub}
		for k, v := range root {
			out[k] = v
		}
		if firebase != nil {
			out["firebase"] = firebase
		}
		return out
	}
	// Refused first: a refused token binds nothing.
	for name, tok := range map[string]string{
		"a customer's tenant": p.token(t, claims("acme-root", map[string]any{"tenant": "acme-idp"})),
		"the project's own":   p.token(t, claims("project-root", nil)),
	} {
		t.Run(name, func(t *testing.T) {
			c := *a
			c.t = t
			c.expect(c.call("POST", "/v1/tenants", tok, map[string]any{"name": "Gamma", "slug": "gamma"}), 401, "not_a_member")
		})
	}
	staff := p.token(t, claims("staff-root", map[string]any{"tenant": "vendor-staff"}))
	a.expect(a.call("POST", "/v1/tenants", staff, map[string]any{"name": "Beta", "slug": "beta"}), 201, "")
}

// TestHostileIDTokens joins the hostile battery: ID tokens that try to
// reach beyond their Identity Platform tenant (a customer's token naming
// the platform admin's or another tenant's member's e-mail, role and
// tenant_id claims, the project's own token where the platform has its
// own tenant, an unverified e-mail) or are forged, each sent to every kind
// of write, are 401 and change no row (no membership is bound) and no
// Redis key.
func TestHostileIDTokens(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	b, prefix := testenv.Backend(t)
	a := serveWithPlatform(t, b, p.verifier(t), "vendor-staff", config.RateLimit{})
	a.prefix = prefix
	f := newHostileFixtureOn(t, a)
	a.expect(a.admin("PATCH", "/v1/tenants/"+f.ids["{tenant}"], map[string]any{"idp_tenant_id": "acme-idp"}), 200, "")
	other := a.tenant("other")
	acme := map[string]any{"tenant": "acme-idp"}
	// The platform's admin and another tenant's admin exist, pending: the
	// tokens below name their e-mails.
	a.expect(a.admin("POST", "/v1/platform/members", map[string]any{"email": "root@vendor.example", "role": "admin"}), 201, "")
	a.expect(a.admin("POST", "/v1/tenants/"+other+"/members", map[string]any{"email": "oscar@example.com", "role": "admin"}), 201, "")
	claim := func(sub, email string, extra jwt.MapClaims) jwt.MapClaims {
		out := jwt.MapClaims{"sub": sub, "email": email, "email_verified": true}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}

	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "x",
		"email": "root@vendor.example", "email_verified": true, "firebase": map[string]any{"tenant": "vendor-staff"},
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	none.Header["kid"] = p.kid
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	type refused struct{ token, code string }
	tokens := map[string]refused{
		"platform admin's e-mail from a customer's idp tenant": {p.token(t, claim("x1", "root@vendor.example",
			jwt.MapClaims{"role": "platform_admin", "firebase": acme})), "not_a_member"},
		"platform admin's e-mail from the project's tokens": {p.token(t, claim("x2", "root@vendor.example",
			jwt.MapClaims{"role": "platform_admin"})), "not_a_member"},
		"another tenant's admin from a customer's idp tenant": {p.token(t, claim("x3", "oscar@example.com",
			jwt.MapClaims{"role": "admin", "tenant_id": other, "firebase": acme})), "not_a_member"},
		"tenant_id with a platform role and no membership": {p.token(t, claim("x4", "eve@example.com",
			jwt.MapClaims{"role": "platform_admin", "tenant_id": other, "firebase": acme})), "not_a_member"},
		"unverified e-mail of the platform admin": {p.token(t, jwt.MapClaims{"sub": "x5", "email": "root@vendor.example",
			"email_verified": false, "firebase": map[string]any{"tenant": "vendor-staff"}}), "email_not_verified"},
		"unsigned staff token": {noneToken, "unauthorized"},
		"staff token of an unknown key": {p.token(t, claim("x6", "root@vendor.example", jwt.MapClaims{"firebase": map[string]any{"tenant": "vendor-staff"}}),
			func(t *jwt.Token) { t.Header["kid"] = "../k1" }), "unauthorized"},
	}
	writes := []struct{ method, path, body string }{
		{"POST", "/v1/tenants", `{"name":"Evil","slug":"evil"}`},
		{"PATCH", "/v1/tenants/{tenant}", `{"status":"suspended"}`},
		{"POST", "/v1/tenants/{tenant}/licenses", `{"product":"p","seats":100000}`},
		{"PATCH", "/v1/tenants/{tenant}/licenses/{license}", `{"seats":100000}`},
		{"POST", "/v1/tenants/{tenant}/api-keys", `{"name":"x","role":"admin"}`},
		{"DELETE", "/v1/tenants/{tenant}/api-keys/{apikey}", ""},
		{"PATCH", "/v1/tenants/{tenant}/workstations/{ws}", `{"blocked":true}`},
		{"POST", "/v1/tenants/" + other + "/licenses", `{"product":"p","seats":1}`},
	}
	before := f.snapshot(t)
	for name, tok := range tokens {
		for _, w := range writes {
			h := hostile{name: name + ": " + w.method + " " + w.path, method: w.method, path: w.path,
				token: "Bearer " + tok.token, body: w.body, status: 401, code: tok.code}
			t.Run(h.name, func(t *testing.T) {
				got := f.send(t, h)
				after := f.snapshot(t)
				defer func() { before = after }()
				if d := before.diff(after); d != "" {
					t.Errorf("it changed %s", d)
				}
				hostileRefused(t, h, got)
			})
		}
	}
}
