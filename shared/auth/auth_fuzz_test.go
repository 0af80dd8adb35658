package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/jwtauth"
	"github.com/coditect-ai/license-server/shared/testenv"
)

const (
	fuzzBootstrap = "fuzz-bootstrap-token-0123456789abcdef"
	fuzzIssuer    = "https://securetoken.google.com/fuzz"
	fuzzAudience  = "fuzz"
)

// credential is one real credential and the principal it must yield.
type credential struct {
	secret string
	want   auth.Principal
}

// fuzzAuthenticator is an authenticator on a real database (an API key of
// a real tenant) and a real ID token verifier whose JWKS is served locally
// over TLS, with the three credentials it accepts.
func fuzzAuthenticator(f *testing.F) (*auth.Authenticator, []credential) {
	f.Helper()
	b, _ := testenv.Backend(f)
	ctx := database.WithActor(context.Background(), "fuzz")
	tenant, err := b.Tenants.Create(ctx, "Acme", "acme", nil)
	if err != nil {
		f.Fatal(err)
	}
	key, secret, err := b.APIKeys.Create(ctx, tenant.ID, "ci", "admin", "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(priv.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(priv.E)).Bytes())}}})
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	f.Cleanup(srv.Close)
	v, err := jwtauth.New(ctx, jwtauth.Config{JWKSURL: srv.URL + "/jwks", Issuer: fuzzIssuer, Audience: fuzzAudience,
		HTTPClient: srv.Client()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	if err := v.WaitReady(ctx); err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": fuzzIssuer, "aud": fuzzAudience, "sub": "user-1",
		"email": "ada@example.com", "email_verified": true,
		"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(24 * time.Hour).Unix()})
	tok.Header["kid"] = "k1"
	idToken, err := tok.SignedString(priv)
	if err != nil {
		f.Fatal(err)
	}
	// Ada is a member of Acme: her verified e-mail's first sign-in binds
	// the membership to her subject.
	if _, err := b.Members.Invite(ctx, tenant.ID, "ada@example.com", "member", "", "fuzz"); err != nil {
		f.Fatal(err)
	}
	a, err := auth.New(auth.Config{BootstrapToken: fuzzBootstrap, Keys: b.APIKeys, Verifier: v, Members: b.Members,
		ResolveTenant: func(ctx context.Context, idp string) (string, error) {
			t, err := b.Tenants.ByIdentityTenant(ctx, idp)
			return t.ID, err
		}})
	if err != nil {
		f.Fatal(err)
	}
	return a, []credential{
		{fuzzBootstrap, auth.Principal{Actor: "bootstrap", User: "bootstrap", Role: auth.PlatformAdmin}},
		{secret, auth.Principal{Actor: "api_key:" + key.ID, User: "api_key:" + key.ID, Tenants: map[string]auth.Role{tenant.ID: auth.Admin}}},
		{idToken, auth.Principal{Actor: "user:ada@example.com", User: "ada@example.com", Email: "ada@example.com",
			Issuer: fuzzIssuer, Subject: "user-1", Tenants: map[string]auth.Role{tenant.ID: auth.Member}}},
	}
}

// FuzzAuthenticate feeds any Authorization header to the authenticator
// (bootstrap token, API keys looked up in PostgreSQL, ID tokens verified
// against the JWKS). It never panics and never fails with anything but
// "no credential" (only for no header) or "invalid credential": a hostile
// header is never a backend error (a 5xx). A caller is recognised only
// when the header carries one of the real credentials byte for byte, and
// is then exactly that credential's principal. Through Require, a refusal
// is a 401 with the JSON error envelope.
func FuzzAuthenticate(f *testing.F) {
	a, creds := fuzzAuthenticator(f)
	for _, c := range creds {
		f.Add("Bearer " + c.secret)
		f.Add("bearer   " + c.secret + " \t")
		f.Add("Bearer " + c.secret[:len(c.secret)-1])
		f.Add("Bearer " + c.secret + "A")
		f.Add("Basic " + c.secret)
		f.Add("Bearer " + strings.ToUpper(c.secret))
	}
	for _, s := range []string{"", "Bearer", "Bearer ", "Bearer ak_", "Bearer ak_\x00", "Bearer ak_'; DROP TABLE api_keys;--",
		`Bearer "]])redis.call('FLUSHALL')--`, "Bearer a.b.c", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"Bearer \xff\xfe", "Bearer " + strings.Repeat("A", 9000), "Bearer " + strings.Repeat("a.", 3)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header["Authorization"] = []string{header}
		}
		p, err := a.Authenticate(r)
		switch {
		case err == nil:
			ok := false
			for _, c := range creds {
				// An ID token's signature segment has a few spellings that
				// verify alike (non-strict base64); its signed part does not.
				signed := c.secret
				if jwtauth.LooksLikeJWT(signed) {
					signed = signed[:strings.LastIndexByte(signed, '.')+1]
				}
				if strings.Contains(header, signed) && reflect.DeepEqual(p, c.want) {
					ok = true
				}
			}
			if !ok {
				t.Fatalf("Authorization %q authenticated as %+v", header, p)
			}
		case errors.Is(err, auth.ErrNoCredential):
			if header != "" {
				t.Fatalf("Authorization %q: %v", header, err)
			}
		case !errors.Is(err, auth.ErrInvalidCredential):
			t.Fatalf("Authorization %q: %v, neither no nor an invalid credential", header, err)
		}
		w := httptest.NewRecorder()
		a.Require(func(w http.ResponseWriter, r *http.Request) {
			if got, _ := auth.FromContext(r.Context()); !reflect.DeepEqual(got, p) || err != nil {
				t.Fatalf("Require passed %+v on, Authenticate said %+v, %v", got, p, err)
			}
			w.WriteHeader(http.StatusNoContent)
		})(w, r)
		if err == nil {
			return
		}
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if w.Code != http.StatusUnauthorized || w.Header().Get("Content-Type") != "application/json" ||
			json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Error.Code != "unauthorized" || body.Error.Message == "" {
			t.Fatalf("Authorization %q answered %d %s", header, w.Code, w.Body)
		}
	})
}
