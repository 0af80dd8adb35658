package jwtauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://securetoken.google.com/test-project"
	testAudience = "test-project"
)

// testKey is a signing key and the JWK the test server publishes for it.
type testKey struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
	jwk    map[string]any
}

func newRSAKey(t *testing.T, kid string) testKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("generating RSA key: %v", err)
	}
	return testKey{kid: kid, method: jwt.SigningMethodRS256, priv: priv, jwk: rsaJWK(kid, &priv.PublicKey)}
}

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	b64 := base64.RawURLEncoding
	return map[string]any{
		"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": b64.EncodeToString(pub.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

func newECKey(t *testing.T, kid string) testKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating EC key: %v", err)
	}
	point, err := priv.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatalf("encoding EC public key: %v", err)
	}
	b64 := base64.RawURLEncoding
	// No "alg" on purpose: it is optional, and the key type alone must then
	// decide which tokens the key may verify.
	jwk := map[string]any{
		"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256",
		"x": b64.EncodeToString(point[1:33]),
		"y": b64.EncodeToString(point[33:]),
	}
	return testKey{kid: kid, method: jwt.SigningMethodES256, priv: priv, jwk: jwk}
}

// jwksServer is a local JWKS endpoint whose contents and status tests change.
type jwksServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	keys   []map[string]any
	status int
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys, status: http.StatusOK}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, map[string]any{"keys": s.keys}
		s.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, "unavailable", status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(body); err != nil {
			t.Errorf("writing JWKS: %v", err)
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) setKeys(keys ...map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) setStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *jwksServer) config() Config {
	return Config{
		JWKSURL:    s.srv.URL + "/jwks",
		Issuer:     testIssuer,
		Audience:   testAudience,
		HTTPClient: s.srv.Client(),
	}
}

func newVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(v.Close)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := v.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return v
}

// validClaims are the claims of a Firebase ID token that should verify.
func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"iss":   testIssuer,
		"aud":   testAudience,
		"sub":   "user-1",
		"email": "ada@example.com",
		// Google's older tokens send it as a string.
		"email_verified": "true",
		"role":           "admin",
		"tenant_id":      "tenant-42",
		"firebase":       map[string]any{"tenant": "idp-tenant-7", "sign_in_provider": "password"},
		"iat":            now.Add(-time.Minute).Unix(),
		"auth_time":      now.Add(-time.Minute).Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
}

func with(c jwt.MapClaims, changes map[string]any) jwt.MapClaims {
	for k, v := range changes {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func sign(t *testing.T, k testKey, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatalf("signing token: %v", err)
	}
	return s
}

func wantClaims(c jwt.MapClaims) Claims {
	return Claims{
		Issuer:         testIssuer,
		Subject:        "user-1",
		Email:          "ada@example.com",
		EmailVerified:  true,
		Role:           "admin",
		TenantID:       "tenant-42",
		FirebaseTenant: "idp-tenant-7",
		ExpiresAt:      time.Unix(c["exp"].(int64), 0),
	}
}

// keys are generated once for all of TestVerify: RSA generation is the slow part.
type keys struct {
	rsa, ec testKey
	// impostor is a different RSA key that claims rsa's kid.
	impostor testKey
	// enc is published with "use": "enc" and must never verify.
	enc testKey
}

func newKeys(t *testing.T) keys {
	k := keys{rsa: newRSAKey(t, "rsa-1"), ec: newECKey(t, "ec-1"), impostor: newRSAKey(t, "rsa-1")}
	k.enc = k.impostor
	k.enc.kid = "rsa-enc"
	k.enc.jwk = rsaJWK("rsa-enc", &k.impostor.priv.(*rsa.PrivateKey).PublicKey)
	k.enc.jwk["use"] = "enc"
	return k
}

func TestVerify(t *testing.T) {
	t.Parallel()
	k := newKeys(t)

	// fixture is one JWKS server and verifier per case, so a case that
	// changes the JWKS cannot disturb the others.
	type fixture struct {
		srv *jwksServer
		v   *Verifier
	}
	type tc struct {
		name    string
		token   func(t *testing.T, f fixture) string
		want    *Claims
		wantMsg string // substring of the error, when the reason matters
	}
	valid := func(key testKey, changes map[string]any) tc {
		c := with(validClaims(), changes)
		want := wantClaims(c)
		return tc{
			token: func(t *testing.T, _ fixture) string { return sign(t, key, c) },
			want:  &want,
		}
	}
	invalid := func(key testKey, changes map[string]any, wantMsg string) tc {
		return tc{
			token:   func(t *testing.T, _ fixture) string { return sign(t, key, with(validClaims(), changes)) },
			wantMsg: wantMsg,
		}
	}
	named := func(name string, c tc) tc { c.name = name; return c }

	tests := []tc{
		named("RS256 valid", valid(k.rsa, nil)),
		named("ES256 valid", valid(k.ec, nil)),
		named("audience among several", valid(k.rsa, map[string]any{"aud": []string{"other", testAudience}})),
		named("expired within leeway", valid(k.ec, map[string]any{"exp": time.Now().Add(-10 * time.Second).Unix()})),
		named("iat in the future within leeway", valid(k.rsa, map[string]any{"iat": time.Now().Add(10 * time.Second).Unix()})),

		named("alg none", tc{
			token: func(t *testing.T, _ fixture) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodNone, validClaims())
				tok.Header["kid"] = k.rsa.kid
				s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatalf("signing alg none: %v", err)
				}
				return s
			},
			wantMsg: "signing method none is invalid",
		}),
		named("HS256 with the RSA public key as secret", tc{
			token: func(t *testing.T, _ fixture) string {
				der, err := x509.MarshalPKIXPublicKey(k.rsa.priv.Public())
				if err != nil {
					t.Fatalf("marshalling public key: %v", err)
				}
				secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims())
				tok.Header["kid"] = k.rsa.kid
				s, err := tok.SignedString(secret)
				if err != nil {
					t.Fatalf("signing HS256: %v", err)
				}
				return s
			},
			wantMsg: "signing method HS256 is invalid",
		}),
		named("expired", invalid(k.rsa, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}, "expired")),
		named("not yet valid", invalid(k.rsa, map[string]any{"nbf": time.Now().Add(5 * time.Minute).Unix()}, "not valid yet")),
		named("iat in the future", invalid(k.ec, map[string]any{"iat": time.Now().Add(5 * time.Minute).Unix()}, "before issued")),
		named("wrong issuer", invalid(k.rsa, map[string]any{"iss": "https://securetoken.google.com/other"}, "issuer")),
		named("wrong audience", invalid(k.rsa, map[string]any{"aud": "other-project"}, "audience")),
		named("missing audience", invalid(k.rsa, map[string]any{"aud": nil}, "aud claim is required")),
		named("missing sub", invalid(k.rsa, map[string]any{"sub": nil}, "sub claim is required")),
		named("empty sub", invalid(k.rsa, map[string]any{"sub": ""}, "sub claim is required")),
		named("missing exp", invalid(k.rsa, map[string]any{"exp": nil}, "exp claim is required")),
		named("missing iat", invalid(k.ec, map[string]any{"iat": nil}, "iat claim is required")),
		named("unknown kid", tc{
			token: func(t *testing.T, _ fixture) string {
				stranger := k.rsa
				stranger.kid = "not-published"
				return sign(t, stranger, validClaims())
			},
			wantMsg: "not in refetched JWKS",
		}),
		named("missing kid", tc{
			token: func(t *testing.T, _ fixture) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodRS256, validClaims())
				s, err := tok.SignedString(k.rsa.priv)
				if err != nil {
					t.Fatalf("signing: %v", err)
				}
				return s
			},
			wantMsg: `"kid" header is required`,
		}),
		named("tampered payload", tc{
			token: func(t *testing.T, _ fixture) string {
				parts := strings.Split(sign(t, k.rsa, validClaims()), ".")
				payload, err := json.Marshal(with(validClaims(), map[string]any{"role": "platform_admin"}))
				if err != nil {
					t.Fatalf("encoding payload: %v", err)
				}
				parts[1] = base64.RawURLEncoding.EncodeToString(payload)
				return strings.Join(parts, ".")
			},
			wantMsg: "signature is invalid",
		}),
		named("key removed from the JWKS", tc{
			token: func(t *testing.T, f fixture) string {
				tok := sign(t, k.rsa, validClaims())
				if _, err := f.v.Verify(t.Context(), tok); err != nil {
					t.Fatalf("before removal: %v", err)
				}
				f.srv.setKeys(k.ec.jwk)
				if err := f.v.refresh(t.Context()); err != nil {
					t.Fatalf("refresh: %v", err)
				}
				return tok
			},
			wantMsg: "unknown key ID",
		}),
		named("right kid, different private key", invalid(k.impostor, nil, "verification error")),
		named("key with use enc", invalid(k.enc, nil, "unknown key ID")),
		named("JWK alg does not match token alg", tc{
			token: func(t *testing.T, _ fixture) string {
				liar := k.ec
				liar.kid = k.rsa.kid // an ES256 token naming the RS256 key
				return sign(t, liar, validClaims())
			},
			wantMsg: "is for RS256, token uses ES256",
		}),
		named("crit header", tc{
			token: func(t *testing.T, _ fixture) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodRS256, validClaims())
				tok.Header["kid"] = k.rsa.kid
				tok.Header["crit"] = []string{"exp"}
				s, err := tok.SignedString(k.rsa.priv)
				if err != nil {
					t.Fatalf("signing: %v", err)
				}
				return s
			},
			wantMsg: `"crit" header is not supported`,
		}),
		named("wrong claim type", invalid(k.rsa, map[string]any{"role": 7}, "could not JSON decode claim")),
		named("garbage", tc{token: func(*testing.T, fixture) string { return "not a jwt" }, wantMsg: "malformed"}),
		named("empty", tc{token: func(*testing.T, fixture) string { return "" }, wantMsg: "malformed"}),
		named("oversized", tc{
			token:   func(*testing.T, fixture) string { return strings.Repeat("a", maxTokenLen+1) },
			wantMsg: "longer than",
		}),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newJWKSServer(t, k.rsa.jwk, k.ec.jwk, k.enc.jwk)
			f := fixture{srv: srv, v: newVerifier(t, srv.config())}
			token := tt.token(t, f)

			got, err := f.v.Verify(t.Context(), token)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if !got.ExpiresAt.Equal(tt.want.ExpiresAt) {
					t.Errorf("ExpiresAt = %v, want %v", got.ExpiresAt, tt.want.ExpiresAt)
				}
				got.ExpiresAt = tt.want.ExpiresAt
				if got != *tt.want {
					t.Errorf("claims = %+v, want %+v", got, *tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify error = %v, want one wrapping ErrInvalidToken", err)
			}
			if got != (Claims{}) {
				t.Errorf("claims = %+v on error, want zero", got)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Verify error = %q, want it to mention %q", err, tt.wantMsg)
			}
			if errors.Is(err, ErrKeysUnavailable) {
				t.Errorf("Verify error = %q blames the JWKS endpoint, which was up", err)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

func TestUnknownKIDRefetchIsRateLimited(t *testing.T) {
	t.Parallel()
	key := newECKey(t, "ec-1")
	srv := newJWKSServer(t, key.jwk)
	cfg := srv.config()
	cfg.MinRefreshInterval = time.Hour
	v := newVerifier(t, cfg)
	before := srv.hits.Load()

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			stranger := key
			stranger.kid = rand.Text()
			_, err := v.Verify(t.Context(), sign(t, stranger, validClaims()))
			if !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "unknown key ID") {
				t.Errorf("Verify with random kid: %v, want unknown key ID", err)
			}
		})
	}
	wg.Wait()

	if extra := srv.hits.Load() - before; extra != 1 {
		t.Errorf("50 unknown kids caused %d JWKS fetches, want exactly 1", extra)
	}
}

func TestAddedKeyIsPickedUpByUnknownKID(t *testing.T) {
	t.Parallel()
	old, added := newRSAKey(t, "rsa-old"), newECKey(t, "ec-new")
	srv := newJWKSServer(t, old.jwk)
	v := newVerifier(t, srv.config())

	srv.setKeys(old.jwk, added.jwk)
	got, err := v.Verify(t.Context(), sign(t, added, validClaims()))
	if err != nil {
		t.Fatalf("Verify with key added after New: %v", err)
	}
	if got.Subject != "user-1" {
		t.Errorf("Subject = %q, want user-1", got.Subject)
	}
	if hits := srv.hits.Load(); hits != 2 {
		t.Errorf("JWKS fetched %d times, want 2 (New and the unknown kid)", hits)
	}
	// The old key is still published, so it keeps working.
	if _, err := v.Verify(t.Context(), sign(t, old, validClaims())); err != nil {
		t.Errorf("Verify with old key: %v", err)
	}
}

func TestJWKSFailureDuringUnknownKID(t *testing.T) {
	t.Parallel()
	key := newECKey(t, "ec-1")
	srv := newJWKSServer(t, key.jwk)
	v := newVerifier(t, srv.config())
	srv.setStatus(http.StatusInternalServerError)

	stranger := key
	stranger.kid = "rotated-in"
	_, err := v.Verify(t.Context(), sign(t, stranger, validClaims()))
	if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("Verify error = %v, want ErrInvalidToken and ErrKeysUnavailable", err)
	}
	for _, want := range []string{"JWKS endpoint unavailable", "500"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Verify error = %q, want it to mention %q", err, want)
		}
	}

	// Keys fetched earlier still verify while the endpoint is down.
	if _, err := v.Verify(t.Context(), sign(t, key, validClaims())); err != nil {
		t.Errorf("Verify with cached key: %v", err)
	}
}

func TestBackgroundRefreshDropsRemovedKey(t *testing.T) {
	t.Parallel()
	kept, removed := newECKey(t, "ec-kept"), newECKey(t, "ec-removed")
	srv := newJWKSServer(t, kept.jwk, removed.jwk)
	cfg := srv.config()
	cfg.RefreshInterval = 5 * time.Millisecond
	v := newVerifier(t, cfg)

	token := sign(t, removed, validClaims())
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatalf("before removal: %v", err)
	}
	srv.setKeys(kept.jwk)
	// The kid stays known until a fetch drops it, so Verify never takes the
	// unknown-kid path here: only the background loop can make it fail.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := v.Verify(t.Context(), token)
		if errors.Is(err, ErrInvalidToken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("removed key still verifies after 5s of background refresh (err = %v)", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := v.Verify(t.Context(), sign(t, kept, validClaims())); err != nil {
		t.Errorf("Verify with kept key: %v", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	key := newECKey(t, "ec-1")

	// New does not wait for the keys; why they are missing shows in
	// WaitReady's error (and in the log) while the loop keeps trying.
	notReady := func(t *testing.T, cfg Config, want string) {
		t.Helper()
		v, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatalf("New: %v, want it to start without the keys", err)
		}
		defer v.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if err := v.WaitReady(ctx); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("WaitReady: %v, want an error mentioning %q", err, want)
		}
	}
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, key.jwk)
		cfg := srv.config()
		srv.srv.Close()
		notReady(t, cfg, "fetching JWKS")
	})
	t.Run("error status", func(t *testing.T) {
		t.Parallel()
		srv := newJWKSServer(t, key.jwk)
		srv.setStatus(http.StatusNotFound)
		notReady(t, srv.config(), "404")
	})
	t.Run("no usable keys", func(t *testing.T) {
		t.Parallel()
		enc := map[string]any{}
		for k, v := range key.jwk {
			enc[k] = v
		}
		enc["use"] = "enc"
		notReady(t, newJWKSServer(t, enc).config(), "no usable signing keys")
	})

	srv := newJWKSServer(t, key.jwk)
	bad := []struct {
		name   string
		change func(*Config)
	}{
		{"http URL", func(c *Config) { c.JWKSURL = strings.Replace(c.JWKSURL, "https:", "http:", 1) }},
		{"relative URL", func(c *Config) { c.JWKSURL = "/jwks" }},
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"no audience", func(c *Config) { c.Audience = "" }},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }},
		{"negative retry", func(c *Config) { c.RetryMin = -time.Second }},
		{"retries shrinking", func(c *Config) { c.RetryMin, c.RetryMax = time.Minute, time.Second }},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := srv.config()
			tt.change(&cfg)
			if _, err := New(t.Context(), cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	srv := newJWKSServer(t, newECKey(t, "ec-1").jwk)
	cfg := srv.config()
	cfg.RefreshInterval = time.Millisecond

	v, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Close returns only once the refresh goroutine has exited.
	v.Close()
	v.Close()

	ctx, cancel := context.WithCancel(t.Context())
	v, err = New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cancel()
	v.Close() // the loop has ended (or ends now) because ctx did
}

// TestStartsWhileTheIdentityProviderIsDown: a Verifier made while the
// JWKS endpoint refuses connections refuses tokens at once (without waiting
// on the endpoint) with ErrKeysUnavailable, and verifies them once the
// endpoint comes up, found by the background retries alone.
func TestStartsWhileTheIdentityProviderIsDown(t *testing.T) {
	t.Parallel()
	key := newECKey(t, "ec-1")
	// The address is reserved, then nothing listens on it until later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]any{key.jwk}})
	}))
	srv.Listener.Close()
	t.Cleanup(srv.Close)
	// The client trusts only the server's certificate, which is known once
	// the server starts; until then it dials the reserved address in vain.
	var pinned atomic.Pointer[x509.Certificate]
	transport := &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // replaced by the pinning below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if c := pinned.Load(); c == nil || len(raw) == 0 || !bytes.Equal(raw[0], c.Raw) {
				return errors.New("not the test server's certificate")
			}
			return nil
		},
	}}
	cfg := Config{JWKSURL: "https://" + addr + "/jwks", Issuer: testIssuer, Audience: testAudience,
		HTTPClient: &http.Client{Transport: transport}, RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond}

	v := newUnreadyVerifier(t, cfg)
	token := sign(t, key, validClaims())
	for range 3 {
		start := time.Now()
		_, err := v.Verify(t.Context(), token)
		if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, ErrKeysUnavailable) {
			t.Fatalf("Verify with the endpoint down: %v, want ErrInvalidToken and ErrKeysUnavailable", err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("Verify took %v with the endpoint down; it must not wait on it", took)
		}
		time.Sleep(30 * time.Millisecond)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on the reserved address again: %v", err)
	}
	srv.Listener = ln
	srv.StartTLS()
	pinned.Store(srv.Certificate())

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := v.WaitReady(ctx); err != nil {
		t.Fatalf("keys not fetched after the endpoint came up: %v", err)
	}
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatalf("Verify once the endpoint is up: %v", err)
	}
	if hits.Load() == 0 {
		t.Fatal("the endpoint was never asked")
	}
}

func newUnreadyVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	v, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New with the endpoint down: %v, want it to start anyway", err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	good := newECKey(t, "ec-1").jwk
	tests := []struct {
		name    string
		keys    []map[string]any
		wantErr string
	}{
		{"duplicate kid", []map[string]any{good, good}, "duplicate kid"},
		{"small RSA key", []map[string]any{{"kty": "RSA", "kid": "k", "n": "AQAB", "e": "AQAB"}}, "bits"},
		{"point off the curve", []map[string]any{{
			"kty": "EC", "kid": "k", "crv": "P-256",
			"x": base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
			"y": base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		}}, "invalid P-256 point"},
		{"other curve", []map[string]any{{"kty": "EC", "kid": "k", "crv": "P-384"}}, "unsupported curve"},
		{"symmetric key", []map[string]any{{"kty": "oct", "kid": "k", "k": "c2VjcmV0"}}, "unsupported kty"},
		{"no kid", []map[string]any{{"kty": "EC", "crv": "P-256", "x": good["x"], "y": good["y"]}}, "no kid"},
		{"empty", nil, "no usable signing keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := json.Marshal(map[string]any{"keys": tt.keys})
			if err != nil {
				t.Fatalf("encoding JWKS: %v", err)
			}
			_, err = parseJWKS(data)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseJWKS: %v, want error mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestLooksLikeJWT(t *testing.T) {
	t.Parallel()
	tok := sign(t, newECKey(t, "ec-1"), validClaims())
	tests := []struct {
		in   string
		want bool
	}{
		{tok, true},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", true}, // unsigned: Verify refuses it
		{"ak_" + strings.Repeat("x", 40), false},
		{"q8sT0bK2-VkX_9mZ4wY1rN6cP3hJ7fL5dA0gE2uI", false}, // bootstrap token
		{"", false},
		{"..", false},
		{"a..c", false},
		{"a.b.c.d", false},
		{"eyJ.eyJ.c2ln=", false},
		{"eyJ hbG.eyJ.sig", false},
		{"eyJ+.eyJ/.sig", false},
	}
	for _, tt := range tests {
		if got := LooksLikeJWT(tt.in); got != tt.want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestUnverifiedIssuer: the issuer is read without verifying, only to pick
// a verifier; anything that is not a readable JWT gives "".
func TestUnverifiedIssuer(t *testing.T) {
	t.Parallel()
	payload := base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://accounts.google.com"}`))
	for token, want := range map[string]string{
		"eyJhbGciOiJSUzI1NiJ9." + payload + ".c2ln": "https://accounts.google.com",
		"eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln":     "",
		"not a token":                               "",
		"a.b":                                       "",
	} {
		if got := UnverifiedIssuer(token); got != want {
			t.Errorf("UnverifiedIssuer(%q) = %q, want %q", token, got, want)
		}
	}
}

// TestEmailVerifiedIsTrueOnlyWhenSaid: only true or "true" verify an
// e-mail; anything else (absent, false, "yes", 1) does not.
func TestEmailVerifiedIsTrueOnlyWhenSaid(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{`true`: true, `"true"`: true, `false`: false, `"yes"`: false, `1`: false, `null`: false} {
		var b flexibleBool
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("email_verified %s = %v, %v; want %v", in, b, err, want)
		}
	}
}
