package lease

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	jwxt "github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// borrowClaims are a borrow of days from iat under a new device key, with
// its private half.
func borrowClaims(t *testing.T, iat time.Time, days int) (Claims, ed25519.PrivateKey) {
	t.Helper()
	device, jwk, err := leasejws.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	c := claims
	c.IssuedAt, c.ExpiresAt = iat, iat.AddDate(0, 0, days)
	c.Borrow, c.Confirmation = true, &jwk
	return c, device
}

// TestBorrowSigner: a borrow lease is the usual lease JWS signed by the
// root itself, one signature each: header {"alg":"RS256","typ":"lease+jwt",
// "kid":<root kid>} and nothing else (no delegation), the payload an
// ordinary lease's with "borrow" and "cnf", its exp weeks away (no
// delegation caps it). VerifyBorrow takes it for weeks; Verify, which
// takes only delegated leases, refuses it.
func TestBorrowSigner(t *testing.T) {
	t.Parallel()
	shared := newTestRoot(t)
	root := &testRoot{key: shared.key, kid: shared.kid} // with a count of its own signatures
	now := time.Now().Truncate(time.Second)
	b := &BorrowSigner{Root: root, Issuer: "https://api.test", Now: func() time.Time { return now }}
	c, _ := borrowClaims(t, time.Time{}, 30)
	c.ExpiresAt = now.AddDate(0, 0, 30)
	c.Issuer = "https://ignored.test"
	tok, err := b.Lease(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if n := root.signs.Load(); n != 1 {
		t.Fatalf("%d root signatures for one borrow lease, want 1", n)
	}
	if h := header(t, tok); len(h) != 3 || h["alg"] != "RS256" || h["typ"] != Type || h["kid"] != root.kid {
		t.Fatalf("header = %v", h)
	}
	// The payload is an ordinary lease's, byte for byte as the delegated
	// signer would write the same claims.
	payload, err := b64.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	want, err := json.Marshal(signedClaims{Iss: "https://api.test", Sub: "sess", Lic: "lic", Ten: "ten", Fpr: "fp",
		Iat: now.Unix(), Exp: c.ExpiresAt.Unix(), Borrow: true, Cnf: &confirmation{JWK: *c.Confirmation}})
	if err != nil {
		t.Fatal(err)
	}
	if string(payload) != string(want) {
		t.Fatalf("payload\n%s\nwant\n%s", payload, want)
	}

	for _, at := range []time.Time{now, now.AddDate(0, 0, 2), c.ExpiresAt.Add(-time.Second)} {
		got, err := root.verifier().VerifyBorrow(tok, at)
		if err != nil {
			t.Fatalf("VerifyBorrow at %s: %v", at, err)
		}
		if !got.Borrow || *got.Confirmation != *c.Confirmation || !got.IssuedAt.Equal(now) || !got.ExpiresAt.Equal(c.ExpiresAt) ||
			got.Issuer != "https://api.test" || got.SessionDigest != "sess" || got.LicenseID != "lic" {
			t.Fatalf("claims = %+v", got)
		}
	}
	if _, err := root.verifier().Verify(tok, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Verify of a borrow lease = %v, want ErrInvalid", err)
	}

	// Claims dated by the caller keep their iat, and a borrow may run the
	// longest a verifier takes.
	c.IssuedAt = now.Add(-time.Hour)
	c.ExpiresAt = c.IssuedAt.Add(MaxBorrow)
	longest, err := b.Lease(context.Background(), c)
	if err != nil {
		t.Fatalf("a borrow of MaxBorrow: %v", err)
	}
	if got, err := root.verifier().VerifyBorrow(longest, now); err != nil || !got.IssuedAt.Equal(c.IssuedAt) {
		t.Fatalf("VerifyBorrow of the longest borrow = %+v, %v", got, err)
	}
}

// TestBorrowSignerRefuses: claims no verifier would take as a borrow lease
// are refused before the root signs anything (a KMS call), as is a root
// that cannot sign, has no key, or signs with a key other than the one the
// header would name.
func TestBorrowSignerRefuses(t *testing.T) {
	t.Parallel()
	shared := newTestRoot(t)
	now := time.Now()
	good, _ := borrowClaims(t, now, 7)
	x := good.Confirmation.X
	badKey := func(k leasejws.OKPKey) Claims {
		c := good
		c.Confirmation = &k
		return c
	}
	edit := func(f func(c *Claims)) Claims {
		c := good
		f(&c)
		return c
	}
	for _, c := range []struct {
		name   string
		claims Claims
		want   error // nil: any error
	}{
		{"an ordinary lease", edit(func(c *Claims) { c.Borrow, c.Confirmation = false, nil }), ErrNotBorrow},
		{"borrow without a device key", edit(func(c *Claims) { c.Confirmation = nil }), ErrNotBorrow},
		{"a device key without borrow", edit(func(c *Claims) { c.Borrow = false }), ErrNotBorrow},
		{"device key empty", badKey(leasejws.OKPKey{}), nil},
		{"device key X25519", badKey(leasejws.OKPKey{Kty: "OKP", Crv: "X25519", X: x}), nil},
		{"device key kty RSA", badKey(leasejws.OKPKey{Kty: "RSA", Crv: "Ed25519", X: x}), nil},
		{"device key short", badKey(leasejws.OKPKey{Kty: "OKP", Crv: "Ed25519", X: x[1:]}), nil},
		{"device key padded", badKey(leasejws.OKPKey{Kty: "OKP", Crv: "Ed25519", X: x + "="}), nil},
		{"longer than MaxBorrow", edit(func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(MaxBorrow + time.Second) }), nil},
		{"a year", edit(func(c *Claims) { c.ExpiresAt = c.IssuedAt.AddDate(1, 0, 0) }), nil},
		{"expiring as issued", edit(func(c *Claims) { c.ExpiresAt = c.IssuedAt }), nil},
		{"expiring before issued", edit(func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Hour) }), nil},
		{"no expiry", edit(func(c *Claims) { c.ExpiresAt = time.Time{} }), nil},
		{"no session", edit(func(c *Claims) { c.SessionDigest = "" }), nil},
		{"no license", edit(func(c *Claims) { c.LicenseID = "" }), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			root := &testRoot{key: shared.key, kid: shared.kid}
			b := &BorrowSigner{Root: root, Issuer: "https://api.test"}
			tok, err := b.Lease(context.Background(), c.claims)
			if err == nil || c.want != nil && !errors.Is(err, c.want) || c.want == nil && errors.Is(err, ErrNotBorrow) {
				t.Fatalf("Lease = %.40q, %v; want an error (%v)", tok, err, c.want)
			}
			if n := root.signs.Load(); n != 0 {
				t.Fatalf("the root signed %d times for claims refused", n)
			}
		})
	}

	broken := &flakyRoot{testRoot: shared}
	broken.broken.Store(true)
	for name, b := range map[string]*BorrowSigner{
		"no root":                 {Issuer: "https://api.test"},
		"no issuer":               {Root: shared},
		"root cannot sign":        {Root: broken, Issuer: "https://api.test"},
		"root has no key":         {Root: keylessRoot{shared}, Issuer: "https://api.test"},
		"root signs with another": {Root: rotatedRoot{shared}, Issuer: "https://api.test"},
	} {
		if tok, err := b.Lease(context.Background(), good); err == nil {
			t.Errorf("%s: Lease = %.40q, want an error", name, tok)
		}
	}
}

// keylessRoot lists no public key.
type keylessRoot struct{ *testRoot }

func (keylessRoot) PublicKeys(context.Context) ([]rootkey.PublicKey, error) { return nil, nil }

// rotatedRoot signs with a key other than the one it lists first, as a
// root rotated between the two calls would.
type rotatedRoot struct{ *testRoot }

func (r rotatedRoot) Sign(ctx context.Context, input []byte) (string, []byte, error) {
	_, sig, err := r.testRoot.Sign(ctx, input)
	return "another-kid", sig, err
}

// TestSignerRefusesBorrowLeases: the delegated signer refuses a borrow
// lease's claims, which no client would take from it, and still writes
// neither claim into an ordinary lease.
func TestSignerRefusesBorrowLeases(t *testing.T) {
	t.Parallel()
	s := newSigner(t, newTestRoot(t), Options{})
	c, _ := borrowClaims(t, time.Now(), 1)
	c.ExpiresAt = time.Now().Add(time.Minute)
	for name, change := range map[string]func(c *Claims){
		"borrow and device key": func(*Claims) {},
		"borrow only":           func(c *Claims) { c.Confirmation = nil },
		"device key only":       func(c *Claims) { c.Borrow = false },
	} {
		bc := c
		change(&bc)
		if tok, err := s.Lease(bc); !errors.Is(err, ErrBorrow) {
			t.Errorf("%s: Lease = %.40q, %v; want ErrBorrow", name, tok, err)
		}
	}
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

// TestBorrowLeaseIndependentVerification: two other JOSE libraries verify
// a borrow lease from nothing but the root public key: jwx (the root as a
// JWK, typ checked, times validated) and golang-jwt, and both find the
// device key in "cnf" as RFC 7800 puts it, whose signatures check.
func TestBorrowLeaseIndependentVerification(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	c, device := borrowClaims(t, time.Now(), 14)
	tok, err := (&BorrowSigner{Root: root, Issuer: "https://api.test"}).Lease(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	checkCnf := func(lib string, cnf any) {
		t.Helper()
		m, _ := cnf.(map[string]any)
		k, _ := m["jwk"].(map[string]any)
		if len(m) != 1 || len(k) != 3 || k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["x"] != c.Confirmation.X {
			t.Fatalf("%s reads cnf %v", lib, cnf)
		}
		x, err := b64.DecodeString(k["x"].(string))
		if err != nil || !ed25519.Verify(x, []byte("m"), ed25519.Sign(device, []byte("m"))) {
			t.Fatalf("%s: cnf is not the device key: %v", lib, err)
		}
	}

	rootJWK, err := jwk.Import(&root.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := jws.Parse([]byte(tok))
	if err != nil || len(msg.Signatures()) != 1 {
		t.Fatalf("jwx: %v", err)
	}
	if typ, _ := msg.Signatures()[0].ProtectedHeaders().Type(); typ != Type {
		t.Fatalf("jwx: typ %q", typ)
	}
	parsed, err := jwxt.Parse([]byte(tok), jwxt.WithKey(jwa.RS256(), rootJWK), jwxt.WithIssuer("https://api.test"),
		jwxt.WithAcceptableSkew(leasejws.Leeway), jwxt.WithMaxDelta(MaxBorrow, jwxt.ExpirationKey, jwxt.IssuedAtKey))
	if err != nil {
		t.Fatalf("jwx: the borrow lease does not verify with the root key: %v", err)
	}
	var borrow bool
	var cnf map[string]any
	if err := parsed.Get("borrow", &borrow); err != nil || !borrow {
		t.Fatalf("jwx: borrow %v, %v", borrow, err)
	}
	if err := parsed.Get("cnf", &cnf); err != nil {
		t.Fatalf("jwx: cnf: %v", err)
	}
	checkCnf("jwx", cnf)
	bad := []byte(tok)
	bad[len(bad)-5] ^= 1
	if _, err := jws.Verify(bad, jws.WithKey(jwa.RS256(), rootJWK)); err == nil {
		t.Fatal("jwx: a tampered borrow lease verifies")
	}

	var lc jwt.MapClaims
	if _, err := jwt.ParseWithClaims(tok, &lc, func(*jwt.Token) (any, error) { return &root.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired(), jwt.WithIssuer("https://api.test")); err != nil {
		t.Fatalf("golang-jwt: %v", err)
	}
	if lc["borrow"] != true || lc["sub"] != "sess" || lc["lic"] != "lic" {
		t.Fatalf("golang-jwt reads %v", lc)
	}
	checkCnf("golang-jwt", lc["cnf"])
}
