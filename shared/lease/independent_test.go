package lease

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// jwxDelegation checks a delegation as jwx reads it: signed RS256 by the
// root, typed dlg+jwt, with nbf and exp at most 24 h apart (no leeway).
func jwxDelegation(dlg string, root jwk.Key) error {
	msg, err := jws.Parse([]byte(dlg))
	if err != nil || len(msg.Signatures()) != 1 {
		return fmt.Errorf("parsing: %v", err)
	}
	if typ, _ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != "dlg+jwt" {
		return fmt.Errorf("typ %q", typ)
	}
	tok, err := jwt.Parse([]byte(dlg), jwt.WithKey(jwa.RS256(), root), jwt.WithAcceptableSkew(leasejws.Leeway))
	if err != nil {
		return err
	}
	return jwt.Validate(tok, jwt.WithResetValidators(true), jwt.WithMaxDelta(24*time.Hour, jwt.ExpirationKey, jwt.NotBeforeKey))
}

// TestIndependentVerification checks a lease with a different JOSE library
// (lestrrat-go/jwx) from the one that signs it (golang-jwt), from nothing
// but the root public key as a JWK: the format is standard, not ours alone.
// (sdk/leasejws has the converse: it verifies leases jwx signs.)
func TestIndependentVerification(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	s := newSigner(t, root, Options{})
	c := claims
	c.ExpiresAt = time.Now().Add(time.Minute)
	tok, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	rootJWK, err := jwk.Import(&root.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}

	msg, err := jws.Parse([]byte(tok))
	if err != nil {
		t.Fatal(err)
	}
	var dlg string
	if err := msg.Signatures()[0].ProtectedHeaders().Get("dlg", &dlg); err != nil {
		t.Fatalf("dlg header: %v", err)
	}
	dlgPayload, err := jws.Verify([]byte(dlg), jws.WithKey(jwa.RS256(), rootJWK))
	if err != nil {
		t.Fatalf("jwx: delegation does not verify with the root key: %v", err)
	}
	if err := jwxDelegation(dlg, rootJWK); err != nil {
		t.Fatalf("jwx: the server's delegation breaks the format's rules: %v", err)
	}
	var d struct {
		Sub string          `json:"sub"`
		JWK json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(dlgPayload, &d); err != nil {
		t.Fatal(err)
	}
	delegated, err := jwk.ParseKey(d.JWK)
	if err != nil {
		t.Fatalf("jwx: delegated JWK: %v", err)
	}
	var pub ed25519.PublicKey
	if err := jwk.Export(delegated, &pub); err != nil {
		t.Fatalf("jwx: delegated key is not Ed25519: %v", err)
	}
	payload, err := jws.Verify([]byte(tok), jws.WithKey(jwa.EdDSA(), pub))
	if err != nil {
		t.Fatalf("jwx: lease does not verify with the delegated key: %v", err)
	}
	var l map[string]any
	json.Unmarshal(payload, &l)
	if l["sub"] != "sess" || l["lic"] != "lic" || l["ten"] != "ten" || l["fpr"] != "fp" {
		t.Fatalf("payload = %v", l)
	}
	// And a tampered lease fails there too.
	bad := []byte(tok)
	bad[len(bad)-5] ^= 1
	if _, err := jws.Verify(bad, jws.WithKey(jwa.EdDSA(), pub)); err == nil {
		t.Fatal("jwx accepted a tampered lease")
	}
}

// TestIndependentVerificationRefusesForgedDelegations: jwx, told the
// format's rules, refuses the delegations lease.Verifier does
// (TestServerRefusesForgedDelegations), each really signed by the root.
func TestIndependentVerificationRefusesForgedDelegations(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	rootJWK, err := jwk.Import(&root.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dlgOf := func(tok string) string {
		t.Helper()
		var h struct {
			Dlg string `json:"dlg"`
		}
		raw, _ := b64.DecodeString(strings.Split(tok, ".")[0])
		if err := json.Unmarshal(raw, &h); err != nil {
			t.Fatal(err)
		}
		return h.Dlg
	}
	nbf := time.Now().Add(-time.Minute)
	if err := jwxDelegation(dlgOf(forgeLease(t, root, leasejws.DelegationType, nbf, nbf.Add(MaxDelegation))), rootJWK); err != nil {
		t.Fatalf("a day-long delegation: %v", err)
	}
	for name, tok := range map[string]string{
		"a year":          forgeLease(t, root, leasejws.DelegationType, nbf, nbf.Add(365*24*time.Hour)),
		"a day and 1 s":   forgeLease(t, root, leasejws.DelegationType, nbf, nbf.Add(MaxDelegation+time.Second)),
		"typ JWT":         forgeLease(t, root, "JWT", nbf, nbf.Add(time.Hour)),
		"certificate typ": forgeLease(t, root, CertificateType, nbf, nbf.Add(time.Hour)),
	} {
		if err := jwxDelegation(dlgOf(tok), rootJWK); err == nil {
			t.Errorf("%s: jwx took the delegation", name)
		}
	}
}
