package lease

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

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
