package main

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestStartsWhileTheIdentityProviderIsDown runs the production binary
// with every function while its JWKS endpoint refuses connections: it
// starts, serves the bootstrap token, API keys, license keys and sessions,
// refuses ID tokens with 401 identity_provider_unavailable, and accepts them
// once the endpoint comes up, with no restart.
func TestStartsWhileTheIdentityProviderIsDown(t *testing.T) {
	bin := testenv.BuildMain(t, "function")
	_, prefix := testenv.Redis(t)
	der, err := x509.MarshalPKCS8PrivateKey(kmsfake.Key(t, 0))
	if err != nil {
		t.Fatal(err)
	}

	// The identity provider: a TLS JWKS endpoint at an address nothing
	// listens on yet, whose certificate the binary trusts through
	// SSL_CERT_FILE.
	addr := testenv.DeadAddress(t)
	ca := testenv.NewCA(t, "test identity provider CA")
	cert, err := tls.X509KeyPair(ca.Issue(t, nil, net.ParseIP("127.0.0.1")))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, []byte(ca.PEM), 0o600); err != nil {
		t.Fatal(err)
	}
	idpKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const issuer, audience = "https://securetoken.google.com/test-project", "test-project"
	idp := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(idpKey.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(idpKey.E)).Bytes())}}})
	}))
	idp.Listener.Close()
	idp.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	t.Cleanup(idp.Close)

	env := []string{
		"REDIS_URL=" + testenv.RedisURL(), "REDIS_KEY_PREFIX=" + prefix,
		"DATABASE_URL=" + testenv.PostgresURL(t), "BOOTSTRAP_ADMIN_TOKEN=" + token,
		"SIGNING_LOCAL_KEY_PEM=" + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"AUTH_JWKS_URL=https://" + addr + "/jwks", "AUTH_ISSUER=" + issuer, "AUTH_AUDIENCE=" + audience,
		"SSL_CERT_FILE=" + caFile,
	}
	env = append(env, testenv.NotifyEnv(t)...)
	env = append(env, testenv.BillingEnv("")...)
	s := start(t, bin, "", env)

	// Everything that is not an ID token works.
	status, tenant := call(t, "POST", s.url+"/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"})
	if status != 201 {
		t.Fatalf("create tenant with the bootstrap token: %d %v", status, tenant)
	}
	tenantPath := s.url + "/v1/tenants/" + tenant["id"].(string)
	status, lic := call(t, "POST", tenantPath+"/licenses", map[string]any{"product": "coditect", "seats": 1})
	if status != 201 {
		t.Fatalf("create license: %d %v", status, lic)
	}
	status, key := call(t, "POST", tenantPath+"/api-keys", map[string]any{"name": "ci", "role": "admin"})
	if status != 201 {
		t.Fatalf("create API key: %d %v", status, key)
	}
	testenv.NoteSecret(t, key["key"].(string))
	// The person the ID token below signs in: a member by invitation.
	if status, m := call(t, "POST", tenantPath+"/members", map[string]any{"email": "ada@example.com", "role": "admin"}); status != 201 {
		t.Fatalf("invite a member: %d %v", status, m)
	}
	if status, body := callAs(t, "GET", tenantPath+"/licenses", key["key"].(string), nil); status != 200 {
		t.Fatalf("list licenses with an API key: %d %v", status, body)
	}
	status, grant := callAs(t, "POST", s.url+"/v1/acquire", "", map[string]any{"license_key": lic["key"], "fingerprint": "ws"})
	if status != 200 {
		t.Fatalf("acquire with a license key: %d %v", status, grant)
	}
	if status, body := callAs(t, "POST", s.url+"/v1/heartbeat", "", map[string]any{"session_id": grant["session_id"]}); status != 200 {
		t.Fatalf("heartbeat: %d %v", status, body)
	}

	// An ID token is refused, saying why, without waiting on the endpoint.
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": issuer, "aud": audience, "sub": "user-1",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "email": "ada@example.com", "email_verified": true})
	tok.Header["kid"] = "k1"
	idToken, err := tok.SignedString(idpKey)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	status, body := callAs(t, "GET", tenantPath+"/licenses", idToken, nil)
	if status != 401 || body["error"].(map[string]any)["code"] != "identity_provider_unavailable" {
		t.Fatalf("ID token while the identity provider is down: %d %v, want 401 identity_provider_unavailable", status, body)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("refusing the ID token took %v: it must not wait on the endpoint", took)
	}

	// The endpoint comes up: the background retries find the keys.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on the identity provider's address: %v", err)
	}
	idp.Listener = ln
	idp.StartTLS()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		status, body = callAs(t, "GET", tenantPath+"/licenses", idToken, nil)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ID token still refused 60s after the identity provider came up: %d %v\n%s", status, body, s.stderr.String())
		}
	}
}

// callAs is call with another credential (none when bearer is empty).
func callAs(t *testing.T, method, url, bearer string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
