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

func TestIDTokens(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	a := newIdentityAPI(t, p, config.RateLimit{})
	tenant := a.tenant("acme")
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant, map[string]any{"idp_tenant_id": "acme-idp"}), 200, "")
	path := "/v1/tenants/" + tenant + "/licenses"

	// A valid token of each way of naming the tenant works.
	for name, claims := range map[string]jwt.MapClaims{
		"tenant_id claim":          {"role": "admin", "tenant_id": tenant},
		"identity platform tenant": {"role": "admin", "firebase": map[string]any{"tenant": "acme-idp"}},
	} {
		t.Run(name, func(t *testing.T) {
			b := *a
			b.t = t
			b.expect(b.call("GET", path, p.token(t, claims), nil), 200, "")
		})
	}
	platform := p.token(t, jwt.MapClaims{"role": "platform_admin"})
	a.expect(a.call("GET", "/v1/tenants", platform, nil), 200, "")

	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "x",
		"role": "admin", "tenant_id": tenant, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	hs.Header["kid"] = p.kid
	pubDER := p.key.PublicKey.N.Bytes()
	hsToken, _ := hs.SignedString(pubDER)
	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "x",
		"role": "admin", "tenant_id": tenant, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	none.Header["kid"] = p.kid
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	good := p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant})
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"admin"`, `"platform_admin"`, 1))) + "." + parts[2]

	rejected := map[string]string{
		"alg none":                  noneToken,
		"HS256 with the public key": hsToken,
		"expired":                   p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant, "exp": time.Now().Add(-time.Hour).Unix()}),
		"not yet valid":             p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant, "nbf": time.Now().Add(time.Hour).Unix()}),
		"wrong issuer":              p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant, "iss": "https://evil.example"}),
		"wrong audience":            p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant, "aud": "other"}),
		"unknown kid":               p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant}, func(t *jwt.Token) { t.Header["kid"] = "nope" }),
		"tampered payload":          tampered,
		"no role":                   p.token(t, jwt.MapClaims{"tenant_id": tenant}),
		"bad role":                  p.token(t, jwt.MapClaims{"role": "owner", "tenant_id": tenant}),
		"unmapped idp tenant":       p.token(t, jwt.MapClaims{"role": "admin", "firebase": map[string]any{"tenant": "nobody"}}),
		// A customer's Identity Platform tenant lets its admins set
		// claims: none of them may grant a platform role.
		"platform role from a customer's idp tenant": p.token(t, jwt.MapClaims{"role": "platform_admin",
			"firebase": map[string]any{"tenant": "acme-idp"}}),
		"no tenant": p.token(t, jwt.MapClaims{"role": "admin"}),
	}
	for name, tok := range rejected {
		t.Run(name, func(t *testing.T) {
			b := *a
			b.t = t
			b.expect(b.call("GET", path, tok, nil), 401, "unauthorized")
		})
	}

	// A tenant_id claim never overrides the token's Identity Platform
	// tenant: acme's people cannot name another tenant and act in it.
	other := a.tenant("other")
	otherPath := "/v1/tenants/" + other + "/licenses"
	confused := p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": other, "firebase": map[string]any{"tenant": "acme-idp"}})
	a.expect(a.call("GET", otherPath, confused, nil), 401, "unauthorized")
	a.expect(a.call("GET", path, confused, nil), 401, "unauthorized")
	// Agreeing with it is fine.
	agreeing := p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant, "firebase": map[string]any{"tenant": "acme-idp"}})
	a.expect(a.call("GET", path, agreeing, nil), 200, "")

	// A key removed from the JWKS stops working once it is refetched.
	a.expect(a.call("GET", path, good, nil), 200, "")
	p.rotate(t, "k2")
	// A token of the new key (unknown kid) triggers the refetch that also
	// learns the old key is gone.
	a.expect(a.call("GET", path, p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": tenant}), nil), 200, "")
	a.expect(a.call("GET", path, good, nil), 401, "unauthorized")
	if strings.Contains(a.logs(), good) {
		t.Fatal("a token was logged")
	}
}

// TestPlatformRolesComeFromThePlatformsTenant: with AUTH_PLATFORM_IDP_TENANT
// set, a platform role is accepted from that Identity Platform tenant only,
// neither from a customer's nor from the project's own tokens.
func TestPlatformRolesComeFromThePlatformsTenant(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	b, prefix := testenv.Backend(t)
	a := serveWithPlatform(t, b, p.verifier(t), "vendor-staff", config.RateLimit{})
	a.prefix = prefix
	tenant := a.tenant("acme")
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant, map[string]any{"idp_tenant_id": "acme-idp"}), 200, "")
	staff := p.token(t, jwt.MapClaims{"role": "platform_admin", "firebase": map[string]any{"tenant": "vendor-staff"}})
	a.expect(a.call("POST", "/v1/tenants", staff, map[string]any{"name": "Beta", "slug": "beta"}), 201, "")
	for name, tok := range map[string]string{
		"a customer's tenant": p.token(t, jwt.MapClaims{"role": "platform_admin", "firebase": map[string]any{"tenant": "acme-idp"}}),
		"the project's own":   p.token(t, jwt.MapClaims{"role": "platform_admin"}),
	} {
		t.Run(name, func(t *testing.T) {
			c := *a
			c.t = t
			c.expect(c.call("POST", "/v1/tenants", tok, map[string]any{"name": "Gamma", "slug": "gamma"}), 401, "unauthorized")
		})
	}
}

// TestHostileIDTokens joins the hostile battery: ID tokens whose claims try
// to reach beyond their Identity Platform tenant (a customer's platform
// role, a tenant_id naming another tenant, the project's own platform
// role where the platform has its own tenant) or are forged, each sent to
// every kind of write, are 401 and change no row and no Redis key.
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

	none := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "x",
		"role": "platform_admin", "firebase": map[string]any{"tenant": "vendor-staff"},
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()})
	none.Header["kid"] = p.kid
	noneToken, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	tokens := map[string]string{
		"platform role from a customer's idp tenant": p.token(t, jwt.MapClaims{"role": "platform_admin", "firebase": acme}),
		"platform role from the project's tokens":    p.token(t, jwt.MapClaims{"role": "platform_admin"}),
		"tenant_id naming another tenant":            p.token(t, jwt.MapClaims{"role": "admin", "tenant_id": other, "firebase": acme}),
		"tenant_id with a platform role":             p.token(t, jwt.MapClaims{"role": "platform_admin", "tenant_id": other, "firebase": acme}),
		"unsigned staff token":                       noneToken,
		"staff token of an unknown key":              p.token(t, jwt.MapClaims{"role": "platform_admin", "firebase": map[string]any{"tenant": "vendor-staff"}}, func(t *jwt.Token) { t.Header["kid"] = "../k1" }),
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
				token: "Bearer " + tok, body: w.body, status: 401, code: "unauthorized"}
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
