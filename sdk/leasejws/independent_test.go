package leasejws

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
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
		jwa.RS256(), root.key, map[string]any{"kid": root.kid, "typ": DelegationType})
	tok := sign(leasePayload(claims), jwa.EdDSA(), priv, map[string]any{"typ": Type, "kid": kid, "dlg": dlg})

	got, err := root.verifier().Verify(tok, now)
	if err != nil {
		t.Fatalf("a lease jwx signed does not verify: %v", err)
	}
	if got.SessionDigest != "sess" || got.LicenseID != "lic" || got.TenantID != "ten" || got.Fingerprint != "fp" ||
		!got.ExpiresAt.Equal(claims.ExpiresAt) {
		t.Fatalf("claims = %+v", got)
	}
	if err := jwxVerify(root.verifier(), tok, now); err != nil {
		t.Fatalf("jwx does not verify the lease it signed: %v", err)
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

// jwxVerify verifies a lease with lestrrat-go/jwx alone, as a client
// following the format's description (package comment) would, sharing no
// code with Verify: the delegation's typ, pinned root and times, its life of
// at most 24 h, then the lease's typ, key and times. (jwx checks exp, nbf
// and iat against the clock with the leeway; the span has none.)
func jwxVerify(v Verifier, token string, now time.Time) error {
	clock := jwt.WithClock(jwt.ClockFunc(func() time.Time { return now }))
	skew := jwt.WithAcceptableSkew(Leeway)
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return fmt.Errorf("lease: %v", err)
	}
	lh := msg.Signatures()[0].ProtectedHeaders()
	if typ, _ := lh.Type(); typ != "lease+jwt" {
		return fmt.Errorf("lease typ %q", typ)
	}
	var dlg string
	if err := lh.Get("dlg", &dlg); err != nil {
		return fmt.Errorf("no delegation: %w", err)
	}
	dmsg, err := jws.Parse([]byte(dlg))
	if err != nil || len(dmsg.Signatures()) != 1 {
		return fmt.Errorf("delegation: %v", err)
	}
	dh := dmsg.Signatures()[0].ProtectedHeaders()
	if typ, _ := dh.Type(); typ != "dlg+jwt" {
		return fmt.Errorf("delegation typ %q", typ)
	}
	kid, _ := dh.KeyID()
	root, ok := v.Roots[kid]
	if !ok {
		return fmt.Errorf("delegation kid %q is not pinned", kid)
	}
	opts := []jwt.ParseOption{clock, skew}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}
	dtok, err := jwt.Parse([]byte(dlg), append(opts, jwt.WithKey(jwa.RS256(), root),
		jwt.WithRequiredClaim(jwt.NotBeforeKey), jwt.WithRequiredClaim(jwt.ExpirationKey))...)
	if err != nil {
		return fmt.Errorf("delegation: %w", err)
	}
	if err := jwt.Validate(dtok, jwt.WithResetValidators(true),
		jwt.WithMaxDelta(24*time.Hour, jwt.ExpirationKey, jwt.NotBeforeKey)); err != nil {
		return fmt.Errorf("delegation lives too long: %w", err)
	}
	var d struct {
		Sub string          `json:"sub"`
		JWK json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(dmsg.Payload(), &d); err != nil {
		return fmt.Errorf("delegation payload: %w", err)
	}
	delegated, err := jwk.ParseKey(d.JWK)
	if err != nil {
		return fmt.Errorf("delegated key: %w", err)
	}
	var pub ed25519.PublicKey
	if err := jwk.Export(delegated, &pub); err != nil {
		return fmt.Errorf("delegated key is not Ed25519: %w", err)
	}
	tp, err := delegated.Thumbprint(crypto.SHA256)
	if err != nil {
		return err
	}
	dkid, _ := delegated.KeyID()
	lkid, _ := lh.KeyID()
	if want := b64.EncodeToString(tp); dkid != want || d.Sub != want || lkid != want {
		return errors.New("lease kid, delegation subject and key thumbprint disagree")
	}
	ltok, err := jwt.Parse([]byte(token), append(opts, jwt.WithKey(jwa.EdDSA(), pub),
		jwt.WithRequiredClaim(jwt.IssuedAtKey), jwt.WithRequiredClaim(jwt.ExpirationKey))...)
	if err != nil {
		return fmt.Errorf("lease: %w", err)
	}
	iat, _ := ltok.IssuedAt()
	nbf, _ := dtok.NotBefore()
	exp, _ := dtok.Expiration()
	if iat.Before(nbf.Add(-Leeway)) || iat.After(exp) {
		return errors.New("lease issued outside its delegation's validity")
	}
	return nil
}
