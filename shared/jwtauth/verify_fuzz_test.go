package jwtauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify mutates real ID tokens (RS256 and ES256, signed by keys a
// local JWKS endpoint publishes) and hostile variants. Verify never panics,
// every refusal wraps ErrInvalidToken, and a token verifies only when it
// is byte for byte one that was signed, yielding exactly the claims signed.
// Seeds hold the spellings a lenient decoder lets through: the unused low
// bits of a signature's last character (fixed in 088dd54 with
// jwt.WithStrictDecoding) and line breaks, which Go's base64 skips even
// when strict.
func FuzzVerify(f *testing.F) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	v := fuzzVerifier(f, rsaKey, ecKey)
	now := time.Now()
	signed := map[string]Claims{}
	for i, k := range []struct {
		kid    string
		method jwt.SigningMethod
		key    any
	}{{"rsa-1", jwt.SigningMethodRS256, rsaKey}, {"ec-1", jwt.SigningMethodES256, ecKey}} {
		for j, role := range []string{"admin", "'; DROP TABLE tenants;--"} {
			c := Claims{Issuer: testIssuer, Subject: "user-" + string(rune('a'+i*2+j)), Email: "ada@example.com",
				EmailVerified: j == 0, Role: role, TenantID: "t",
				FirebaseTenant: "idp", ExpiresAt: now.Add(24 * time.Hour).Truncate(time.Second)}
			tok := jwt.NewWithClaims(k.method, jwt.MapClaims{"iss": testIssuer, "aud": testAudience, "sub": c.Subject,
				"email": c.Email, "email_verified": c.EmailVerified, "role": c.Role, "tenant_id": c.TenantID, "firebase": map[string]any{"tenant": c.FirebaseTenant},
				"iat": now.Add(-time.Minute).Unix(), "exp": c.ExpiresAt.Unix()})
			tok.Header["kid"] = k.kid
			s, err := tok.SignedString(k.key)
			if err != nil {
				f.Fatal(err)
			}
			signed[s] = c
			parts := strings.Split(s, ".")
			f.Add(s)
			for _, last := range "AQgw_-" {
				if m := s[:len(s)-1] + string(last); m != s {
					f.Add(m)
				}
			}
			f.Add(parts[0] + "." + parts[1] + "." + parts[2][:8] + "\n" + parts[2][8:])
			f.Add(parts[0] + "." + parts[1] + ".")
			f.Add(strings.Replace(s, parts[0], base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+k.kid+`"}`)), 1))
			f.Add(strings.Replace(s, parts[0], base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","kid":"`+k.kid+`"}`)), 1))
			f.Add(strings.Replace(s, parts[0], base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"../../x"}`)), 1))
			f.Add(s + "." + parts[2])
		}
	}
	for _, s := range []string{"", "a.b.c", "\x00.\xff.", strings.Repeat("a", maxTokenLen+1), "eyJ9.eyJ9.eyJ9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		got, err := v.Verify(context.Background(), token)
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify(%.80q) = %v, not ErrInvalidToken", token, err)
			}
			return
		}
		want, ok := signed[token]
		if !ok || got != want {
			t.Fatalf("Verify(%.80q) = %+v; signed: %v %+v", token, got, ok, want)
		}
	})
}

// fuzzVerifier is a verifier of a local TLS JWKS endpoint publishing the
// two keys as rsa-1 and ec-1.
func fuzzVerifier(f *testing.F, rsaKey *rsa.PrivateKey, ecKey *ecdsa.PrivateKey) *Verifier {
	f.Helper()
	b64 := base64.RawURLEncoding
	point, err := ecKey.PublicKey.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64.EncodeToString(rsaKey.N.Bytes()),
			"e": b64.EncodeToString(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256", "x": b64.EncodeToString(point[1:33]), "y": b64.EncodeToString(point[33:])},
	}})
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(jwks)
	}))
	f.Cleanup(srv.Close)
	v, err := New(context.Background(), Config{JWKSURL: srv.URL + "/jwks", Issuer: testIssuer, Audience: testAudience,
		HTTPClient: srv.Client()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	return v
}

// FuzzParseJWKS feeds any document to the JWKS parser. It never panics; an
// accepted set is not empty, and holds only RSA keys of 2048 to 8192 bits
// with an odd exponent of at least 3 and P-256 keys on the curve, each under
// a non-empty kid.
func FuzzParseJWKS(f *testing.F) {
	for _, s := range []string{`{"keys":[{"kty":"RSA","kid":"k","n":"` + strings.Repeat("_", 342) + `","e":"AQAB"}]}`,
		`{"keys":[{"kty":"RSA","kid":"k","n":"` + strings.Repeat("_", 342) + `","e":"AAAAAQ"}]}`,
		`{"keys":[{"kty":"EC","kid":"k","crv":"P-256","x":"` + strings.Repeat("A", 43) + `","y":"` + strings.Repeat("A", 43) + `"}]}`,
		`{"keys":[{"kty":"RSA","kid":"k"},{"kty":"RSA","kid":"k"}]}`, `{"keys":[]}`, `{"keys":null}`, `[]`, `{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}`,
		`{"keys":[{"kty":"RSA","kid":"k","use":"enc","n":"AQAB","e":"AQAB"}]}`, strings.Repeat("[", 5000),
		// A second key under the kid of a good one: the whole set is refused.
		`{"keys":[{"kty":"RSA","kid":"k","n":"` + strings.Repeat("_", 342) + `","e":"AQAB"},{"kty":"RSA","kid":"k"}]}`,
		// A 12000-bit modulus, above maxRSABits.
		`{"keys":[{"kty":"RSA","kid":"k","n":"` + strings.Repeat("_", 2000) + `","e":"AQAB"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseJWKS(data)
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatalf("parseJWKS(%.80q) accepted an empty set", data)
		}
		for kid, k := range keys {
			switch pub := k.key.(type) {
			case *rsa.PublicKey:
				if bits := pub.N.BitLen(); kid == "" || bits < minRSABits || bits > maxRSABits || pub.E < 3 || pub.E%2 == 0 {
					t.Fatalf("parseJWKS(%.80q) accepted RSA key %q: %d bits, e=%d", data, kid, bits, pub.E)
				}
			case *ecdsa.PublicKey:
				if kid == "" || pub.Curve != elliptic.P256() {
					t.Fatalf("parseJWKS(%.80q) accepted EC key %q", data, kid)
				}
				if _, err := pub.Bytes(); err != nil {
					t.Fatalf("parseJWKS(%.80q) accepted EC key %q off the curve: %v", data, kid, err)
				}
			default:
				t.Fatalf("parseJWKS(%.80q) accepted a %T", data, k.key)
			}
		}
	})
}

// FuzzLooksLikeJWT: a string looks like a JWT exactly when it is three
// dot-separated base64url segments, the first two non-empty.
func FuzzLooksLikeJWT(f *testing.F) {
	for _, s := range []string{"a.b.c", "a.b.", ".b.c", "a..c", "a.b.c.d", "a+b.c.d", "ak_x", "a.b.c\x00", "é.b.c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := strings.Split(s, ".")
		want := len(parts) == 3 && parts[0] != "" && parts[1] != "" &&
			strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == ""
		if LooksLikeJWT(s) != want {
			t.Fatalf("LooksLikeJWT(%q) = %v", s, !want)
		}
	})
}
