package e2e_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/sdk/license"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsroot"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// keysDoc fetches GET /v1/keys.
func (a *api) keysDoc() []byte {
	a.t.Helper()
	resp, err := a.srv.Client().Get(a.srv.URL + "/v1/keys")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		a.t.Fatalf("GET /v1/keys = %d %s", resp.StatusCode, b)
	}
	return b
}

func TestLeases(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	licenseID, key := a.license(tenant, map[string]any{"seats": 2, "lease_ttl_seconds": 60})
	v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	g := a.expect(a.acquire(key, "ws-1"), 200, "")
	claims, err := v.Verify(g.str("lease"), time.Now())
	if err != nil {
		t.Fatalf("acquire's lease: %v", err)
	}
	exp, _ := time.Parse(time.RFC3339, g.str("expires_at"))
	if claims.SessionDigest != tokens.SessionDigest(g.str("session_id")) || claims.LicenseID != licenseID || claims.TenantID != tenant ||
		claims.Fingerprint != "ws-1" || claims.ExpiresAt.Unix() != exp.Unix() {
		t.Fatalf("lease claims %+v do not match the grant %s", claims, g.raw)
	}
	// The lease is for offline checks: its subject names the session
	// without being the credential that heartbeats or releases it.
	a.expect(a.heartbeat(claims.SessionDigest), 404, "session_not_found")
	if rel := a.expect(a.release(claims.SessionDigest), 200, ""); rel.body["released"] != false {
		t.Fatalf("release with the lease's subject = %s", rel.raw)
	}
	// Admins see the session by the same digest, never by its id.
	list := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID+"/sessions", nil), 200, "")
	if all, _ := list.body["sessions"].([]any); len(all) != 1 || all[0].(map[string]any)["session_digest"] != claims.SessionDigest ||
		strings.Contains(list.raw, g.str("session_id")[33:]) {
		t.Fatalf("sessions = %s; want the one session by its digest %s", list.raw, claims.SessionDigest)
	}
	hb := a.expect(a.heartbeat(g.str("session_id")), 200, "")
	hc, err := v.Verify(hb.str("lease"), time.Now())
	if err != nil || hc.SessionDigest != claims.SessionDigest || hc.Fingerprint != "ws-1" || hc.TenantID != tenant {
		t.Fatalf("heartbeat's lease: %+v, %v", hc, err)
	}
	// The keys document is the root keys alone: each lease carries its
	// delegation, and Keys has none to list (it never signs).
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(a.keysDoc(), &doc); err != nil || len(doc) != 1 || doc["keys"] == nil {
		t.Fatalf("keys document %v: %v", doc, err)
	}
}

// TestKeysNeedsOnlyThePublicKeyViewer serves Keys alone, as its deployment
// does, on a (fake) Cloud KMS key that refuses every signature, as KMS does
// for an account holding only roles/cloudkms.publicKeyViewer: Keys starts,
// never asks KMS to sign, and publishes the root public key.
func TestKeysNeedsOnlyThePublicKeyViewer(t *testing.T) {
	t.Parallel()
	fake := kmsfake.Start(t)
	fake.ViewerOnly()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	root, err := kmsroot.New(ctx, fake.Client(t), kmsroot.Config{SigningVersion: fake.VersionName()})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := compose.Select("Keys")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := testenv.Backend(t)
	built, err := compose.All(ctx, compose.Deps{Backend: b, Root: root, Issuer: testIssuer, Logger: slog.New(slog.DiscardHandler)}, specs)
	if err != nil {
		t.Fatalf("Keys with only the public-key viewer role: %v", err)
	}
	if n := fake.Signs(); n != 0 {
		t.Fatalf("Keys asked KMS to sign %d times", n)
	}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: logging.New(io.Discard, slog.LevelInfo)}, built.HTTP...))
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, b: b, log: &testenv.LogBuffer{}}
	v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Roots) != 1 || !v.Roots[rootkey.Thumbprint(fake.PublicKey())].Equal(fake.PublicKey()) {
		t.Fatalf("published roots %v, want the KMS key's", v.Roots)
	}
	if n := fake.Signs(); n != 0 {
		t.Fatalf("Keys asked KMS to sign %d times", n)
	}
}

// TestLeaseVerifiedIndependently verifies a lease with a JOSE library other
// than the one that signs it, from nothing but GET /v1/keys.
func TestLeaseVerifiedIndependently(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	_, key := a.license(a.tenant("acme"), nil)
	token := a.expect(a.acquire(key, "ws"), 200, "").str("lease")

	var doc struct {
		Keys json.RawMessage `json:"keys"`
	}
	json.Unmarshal(a.keysDoc(), &doc)
	set, err := jwk.Parse([]byte(`{"keys":` + string(doc.Keys) + `}`))
	if err != nil {
		t.Fatalf("jwx reading /v1/keys: %v", err)
	}
	msg, err := jws.Parse([]byte(token))
	if err != nil {
		t.Fatal(err)
	}
	var dlg string
	if err := msg.Signatures()[0].ProtectedHeaders().Get("dlg", &dlg); err != nil {
		t.Fatal(err)
	}
	dlgPayload, err := jws.Verify([]byte(dlg), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		t.Fatalf("jwx: delegation does not verify against /v1/keys: %v", err)
	}
	var d struct {
		JWK json.RawMessage `json:"jwk"`
		Exp int64           `json:"exp"`
	}
	json.Unmarshal(dlgPayload, &d)
	delegated, err := jwk.ParseKey(d.JWK)
	if err != nil {
		t.Fatal(err)
	}
	var pub ed25519.PublicKey
	if err := jwk.Export(delegated, &pub); err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(token), jws.WithKey(jwa.EdDSA(), pub))
	if err != nil {
		t.Fatalf("jwx: lease does not verify with the delegated key: %v", err)
	}
	var l struct {
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	json.Unmarshal(payload, &l)
	if l.Sub == "" || l.Exp <= time.Now().Unix() || d.Exp <= time.Now().Unix() {
		t.Fatalf("times or subject wrong: lease %+v, delegation exp %d", l, d.Exp)
	}
}

// TestNoKMSCallsOnTheHotPath: with the root in (fake) Cloud KMS, an
// instance signs once at start (its delegation); acquires and heartbeats
// never call KMS. Certificates do, once per license change.
func TestNoKMSCallsOnTheHotPath(t *testing.T) {
	t.Parallel()
	fake := kmsfake.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	root, err := kmsroot.New(ctx, fake.Client(t), kmsroot.Config{SigningVersion: fake.VersionName()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := testenv.Backend(t)
	authn, err := authnOn(b, config.RateLimit{})
	if err != nil {
		t.Fatal(err)
	}
	fns, err := allHTTP(t, ctx, compose.Deps{Backend: b, Authn: authn, Root: root, Issuer: testIssuer,
		Logger: slog.New(slog.DiscardHandler)},
		func(rb *backend.Backend) (*auth.Authenticator, error) {
			return authnOn(rb, config.RateLimit{})
		})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: logging.New(io.Discard, slog.LevelInfo)}, fns...))
	t.Cleanup(srv.Close)
	a := &api{t: t, srv: srv, b: b, log: &testenv.LogBuffer{}}

	if n := fake.Signs(); n != 1 {
		t.Fatalf("%d KMS signs at start, want 1 (the delegation)", n)
	}
	tenant := a.tenant("acme")
	licenseID, key := a.license(tenant, map[string]any{"seats": 50})
	v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		g := a.expect(a.acquire(key, "ws-"+string(rune('a'+i%26))+string(rune('a'+i/26))), 200, "")
		if _, err := v.Verify(g.str("lease"), time.Now()); err != nil {
			t.Fatalf("lease under the KMS root: %v", err)
		}
		a.expect(a.heartbeat(g.str("session_id")), 200, "")
	}
	if n := fake.Signs(); n != 1 {
		t.Fatalf("%d KMS signs after 40 acquires and 40 heartbeats, want still 1", n)
	}

	// License certificates are signed by the root itself: once per change.
	certPath := "/v1/tenants/" + tenant + "/licenses/" + licenseID + "/certificate"
	c1 := a.expect(a.admin("POST", certPath, nil), 200, "").str("certificate")
	c2 := a.expect(a.admin("POST", certPath, nil), 200, "").str("certificate")
	if c1 != c2 || fake.Signs() != 2 {
		t.Fatalf("certificate not cached: %d signs", fake.Signs())
	}
	var cl jwt.MapClaims
	tok, err := jwt.ParseWithClaims(c1, &cl, func(*jwt.Token) (any, error) { return fake.PublicKey(), nil },
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil || !tok.Valid || cl["sub"] != licenseID || cl["seats"] != float64(50) || cl["prd"] != "coditect" ||
		tok.Header["typ"] != "license+jwt" {
		t.Fatalf("certificate: %v %v", cl, err)
	}
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/licenses/"+licenseID, map[string]any{"seats": 7}), 200, "")
	c3 := a.expect(a.admin("POST", certPath, nil), 200, "").str("certificate")
	jwt.ParseWithClaims(c3, &cl, func(*jwt.Token) (any, error) { return fake.PublicKey(), nil })
	if c3 == c1 || cl["seats"] != float64(7) || fake.Signs() != 3 {
		t.Fatalf("certificate not re-issued after a change (seats %v, %d signs)", cl["seats"], fake.Signs())
	}
}

// TestCertificatesExpireAndStateTheTenant: through the API, a license with
// no expiry gets a certificate valid at most lease.MaxCertificateValidity,
// which the SDK's check accepts; once its tenant is suspended, the next
// certificate says so and the SDK's check refuses it.
func TestCertificatesExpireAndStateTheTenant(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("certified")
	licenseID, _ := a.license(tenant, map[string]any{"seats": 5})
	v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	certPath := "/v1/tenants/" + tenant + "/licenses/" + licenseID + "/certificate"

	before := time.Now()
	c, err := v.VerifyCertificate(a.expect(a.admin("POST", certPath, nil), 200, "").str("certificate"), time.Now())
	if err != nil {
		t.Fatalf("the SDK refuses the certificate of an active license: %v", err)
	}
	if c.LicenseID != licenseID || c.TenantStatus != "active" || !c.LicenseExpiresAt.IsZero() ||
		c.ExpiresAt.After(time.Now().Add(lease.MaxCertificateValidity)) ||
		c.ExpiresAt.Before(before.Add(lease.MaxCertificateValidity-time.Minute)) {
		t.Fatalf("certificate of a license without expiry: %+v; want it to expire %v after issue", c, lease.MaxCertificateValidity)
	}

	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant, map[string]any{"status": "suspended"}), 200, "")
	c, err = v.VerifyCertificate(a.expect(a.admin("POST", certPath, nil), 200, "").str("certificate"), time.Now())
	if !errors.Is(err, leasejws.ErrInactive) || c.TenantStatus != "suspended" || c.Status != "active" {
		t.Fatalf("certificate after the tenant's suspension: %+v, %v; want the SDK to refuse it as inactive", c, err)
	}
}

// TestMachineBoundCertificate: a tenant admin asks for a certificate bound
// to one machine's fingerprint; the Go SDK's VerifyCertificate accepts it
// on that machine with the server stopped, refuses it on another machine
// and for another license, and an independent JOSE library (jwx) verifies
// it with nothing but /v1/keys and finds the fingerprint in it. Without a
// body (or with {}) the certificate is unbound, as before.
func TestMachineBoundCertificate(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("nodelocked")
	licenseID, key := a.license(tenant, map[string]any{"seats": 3})
	_, otherKey := a.license(tenant, map[string]any{"seats": 1})
	certPath := "/v1/tenants/" + tenant + "/licenses/" + licenseID + "/certificate"
	for _, bad := range []any{strings.Repeat("f", 257), "ws\u0000", 7} {
		a.expect(a.admin("POST", certPath, map[string]any{"fingerprint": bad}), 400, "invalid_request")
	}
	a.expect(a.admin("POST", certPath, map[string]any{"fingerprint": "ws-1", "seats": 9}), 400, "invalid_request")
	bound := a.expect(a.admin("POST", certPath, map[string]any{"fingerprint": "ws-1"}), 200, "").str("certificate")
	unbound := a.expect(a.admin("POST", certPath, map[string]any{}), 200, "").str("certificate")
	doc := a.keysDoc()
	roots, err := license.ParseRootKeys(doc)
	if err != nil {
		t.Fatal(err)
	}
	a.srv.Close() // offline from here on

	cfg := license.Config{LicenseKey: key, Fingerprint: "ws-1", RootKeys: roots, Issuer: testIssuer}
	c, err := license.VerifyCertificate(cfg, bound)
	if err != nil || c.Fingerprint != "ws-1" || c.LicenseID != licenseID || c.Seats != 3 {
		t.Fatalf("the bound certificate on its machine, offline: %+v, %v", c, err)
	}
	other := cfg
	other.Fingerprint = "ws-2"
	if _, err := license.VerifyCertificate(other, bound); !errors.Is(err, leasejws.ErrOtherMachine) {
		t.Fatalf("the bound certificate on another machine: %v, want ErrOtherMachine", err)
	}
	if c, err := license.VerifyCertificate(other, unbound); err != nil || c.Fingerprint != "" {
		t.Fatalf("an unbound certificate on any machine: %+v, %v", c, err)
	}
	wrongLicense := cfg
	wrongLicense.LicenseKey = otherKey
	if _, err := license.VerifyCertificate(wrongLicense, bound); !errors.Is(err, leasejws.ErrInvalid) {
		t.Fatalf("the certificate checked against another license's key: %v, want ErrInvalid", err)
	}

	var keys struct {
		Keys json.RawMessage `json:"keys"`
	}
	json.Unmarshal(doc, &keys)
	set, err := jwk.Parse([]byte(`{"keys":` + string(keys.Keys) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := jws.Verify([]byte(bound), jws.WithKeySet(set, jws.WithRequireKid(true)))
	if err != nil {
		t.Fatalf("jwx verifying the bound certificate: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil || claims["fpr"] != "ws-1" || claims["sub"] != licenseID {
		t.Fatalf("jwx: claims %v, %v", claims, err)
	}
}
