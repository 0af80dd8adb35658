package leasejws

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestIndependentSigner verifies a delegation and a lease that a different
// JOSE library (lestrrat-go/jwx) signs, its own thumbprint as the delegated
// kid: Verify takes the standard format, not only our spelling of it.
// (shared/lease has the converse: jwx verifies the server's leases.)
func TestIndependentSigner(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	delegated, err := jwk.Import(pub)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := delegated.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	kid := b64.EncodeToString(tp)
	if err := delegated.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	sign := func(payload any, alg jwa.SignatureAlgorithm, key any, header map[string]any) string {
		t.Helper()
		p, err := json.Marshal(payload)
		if err != nil {
			t.Fatal(err)
		}
		h := jws.NewHeaders()
		for k, v := range header {
			if err := h.Set(k, v); err != nil {
				t.Fatal(err)
			}
		}
		tok, err := jws.Sign(p, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
		if err != nil {
			t.Fatal(err)
		}
		return string(tok)
	}
	dlg := sign(map[string]any{"iss": "https://api.test", "sub": kid, "jwk": delegated,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()},
		jwa.RS256(), root.key, map[string]any{"kid": root.kid, "typ": "JWT"})
	tok := sign(leasePayload(claims), jwa.EdDSA(), priv, map[string]any{"typ": Type, "kid": kid, "dlg": dlg})

	got, err := root.verifier().Verify(tok, now)
	if err != nil {
		t.Fatalf("a lease jwx signed does not verify: %v", err)
	}
	if got.SessionDigest != "sess" || got.LicenseID != "lic" || got.TenantID != "ten" || got.Fingerprint != "fp" ||
		!got.ExpiresAt.Equal(claims.ExpiresAt) {
		t.Fatalf("claims = %+v", got)
	}
	if NewOKPKey(pub).Kid != kid {
		t.Fatalf("NewOKPKey's kid %s is not jwx's thumbprint %s", NewOKPKey(pub).Kid, kid)
	}
	// And a tampered one fails here too.
	bad := []byte(tok)
	bad[len(bad)-5] ^= 1
	if _, err := root.verifier().Verify(string(bad), now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a tampered lease: %v", err)
	}
}
