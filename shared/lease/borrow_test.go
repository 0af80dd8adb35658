package lease

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// TestBorrowLease: the signer writes a borrow lease's "borrow" and "cnf"
// claims, Verify reads them back, and another JOSE library (golang-jwt)
// verifies the same lease from the root key alone and finds the device key
// in "cnf" as RFC 7800 puts it.
func TestBorrowLease(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	s := newSigner(t, root, Options{})
	device, jwk, err := leasejws.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	c := claims
	c.ExpiresAt = time.Now().Add(time.Hour).Truncate(time.Second)
	c.Borrow, c.Confirmation = true, &jwk
	tok, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := root.verifier().Verify(tok, time.Now())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !got.Borrow || got.Confirmation == nil || *got.Confirmation != jwk || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("claims = %+v, cnf %+v", got, got.Confirmation)
	}

	// golang-jwt: the delegation under the root key, the lease under the
	// key it vouches for, then the claims as a generic map.
	var dlg struct {
		jwt.RegisteredClaims
		JWK leasejws.OKPKey `json:"jwk"`
	}
	if _, err := jwt.ParseWithClaims(header(t, tok)["dlg"].(string), &dlg, func(*jwt.Token) (any, error) {
		return &root.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"})); err != nil {
		t.Fatalf("golang-jwt: delegation: %v", err)
	}
	delegated, err := dlg.JWK.Ed25519()
	if err != nil {
		t.Fatal(err)
	}
	var lc jwt.MapClaims
	if _, err := jwt.ParseWithClaims(tok, &lc, func(*jwt.Token) (any, error) { return delegated, nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(), jwt.WithIssuer("https://api.test")); err != nil {
		t.Fatalf("golang-jwt: lease: %v", err)
	}
	cnf, _ := lc["cnf"].(map[string]any)
	k, _ := cnf["jwk"].(map[string]any)
	if lc["borrow"] != true || len(cnf) != 1 || len(k) != 3 || k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["x"] != jwk.X {
		t.Fatalf("golang-jwt reads borrow %v, cnf %v", lc["borrow"], lc["cnf"])
	}
	// The key in cnf is the device's: its signature checks under it.
	x, err := b64.DecodeString(k["x"].(string))
	if err != nil || !ed25519.Verify(x, []byte("m"), ed25519.Sign(device, []byte("m"))) {
		t.Fatalf("cnf is not the device key: %v", err)
	}

	// An ordinary lease carries neither claim, as before.
	c.Borrow, c.Confirmation = false, nil
	plain, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := b64.DecodeString(strings.Split(plain, ".")[1])
	if strings.Contains(string(payload), "borrow") || strings.Contains(string(payload), "cnf") {
		t.Fatalf("an ordinary lease's payload: %s", payload)
	}
}

// TestBorrowLeaseBadDeviceKey: the signer refuses a device key every
// verifier would refuse, rather than sign a lease no client can use.
func TestBorrowLeaseBadDeviceKey(t *testing.T) {
	t.Parallel()
	s := newSigner(t, newTestRoot(t), Options{})
	_, jwk, err := leasejws.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []leasejws.OKPKey{{}, {Kty: "OKP", Crv: "X25519", X: jwk.X}, {Kty: "OKP", Crv: "Ed25519", X: jwk.X[1:]},
		{Kty: "RSA", Crv: "Ed25519", X: jwk.X}, {Kty: "OKP", Crv: "Ed25519", X: jwk.X + "="}} {
		c := claims
		c.ExpiresAt = time.Now().Add(time.Hour)
		c.Borrow, c.Confirmation = true, &k
		if tok, err := s.Lease(c); err == nil || errors.Is(err, ErrNoDelegation) {
			t.Errorf("Lease with cnf %+v = %.40q, %v; want an error", k, tok, err)
		}
	}
}
