package lease

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// header decodes the JWS header of tok.
func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := b64.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestDelegationIsBounded: what this server signs is a delegation every
// verifier takes: typed dlg+jwt, exp at most MaxDelegation after nbf, with
// the default lifetime and with a longer one asked for.
func TestDelegationIsBounded(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	for _, o := range []Options{{}, {Lifetime: 48 * time.Hour}, {Lifetime: MaxDelegation}} {
		s := newSigner(t, root, o)
		dlg := current(s)
		var c jwt.RegisteredClaims
		if _, err := jwt.ParseWithClaims(dlg, &c, func(*jwt.Token) (any, error) { return &root.key.PublicKey, nil },
			jwt.WithValidMethods([]string{"RS256"})); err != nil {
			t.Fatal(err)
		}
		if h := header(t, dlg); h["typ"] != leasejws.DelegationType || h["kid"] != root.kid {
			t.Errorf("lifetime %s: delegation header %v", o.Lifetime, h)
		}
		if c.NotBefore == nil || c.ExpiresAt == nil || c.ExpiresAt.Sub(c.NotBefore.Time) > MaxDelegation {
			t.Errorf("lifetime %s: delegation from %v to %v, more than %s", o.Lifetime, c.NotBefore, c.ExpiresAt, MaxDelegation)
		}
		cl := claims
		cl.ExpiresAt = time.Now().Add(time.Minute)
		tok, err := s.Lease(cl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := root.verifier().Verify(tok, time.Now()); err != nil {
			t.Errorf("lifetime %s: %v", o.Lifetime, err)
		}
	}
}

// forgeLease is a lease under a delegation the root really signed, with
// the given header typ ("": none) and times: what someone holding the
// root's signing permission for a moment could mint.
func forgeLease(t *testing.T, root *testRoot, typ string, nbf, exp time.Time) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := leasejws.NewOKPKey(pub)
	d := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": "https://api.test", "sub": jwk.Kid, "jwk": jwk,
		"iat": nbf.Unix(), "nbf": nbf.Unix(), "exp": exp.Unix()})
	d.Header["kid"] = root.kid
	if typ == "" {
		delete(d.Header, "typ")
	} else {
		d.Header["typ"] = typ
	}
	dlg, err := d.SignedString(root.key)
	if err != nil {
		t.Fatal(err)
	}
	return leaseUnder(t, dlg, jwk.Kid, priv)
}

// leaseUnder signs a lease, issued now for five minutes, with key under dlg.
func leaseUnder(t *testing.T, dlg, kid string, key ed25519.PrivateKey) string {
	t.Helper()
	now := time.Now()
	l := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"iss": "https://api.test", "sub": "sess", "lic": "lic",
		"ten": "ten", "fpr": "fp", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()})
	l.Header["typ"], l.Header["kid"], l.Header["dlg"] = Type, kid, dlg
	tok, err := l.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestServerRefusesForgedDelegations: the server's verifier (lease.Verifier)
// refuses leases under delegations the root really signed that live a year,
// or are typed as servers typed them before (JWT), as a certificate, or not
// at all. The same lease under a day-long delegation verifies, so only the
// delegation decides.
func TestServerRefusesForgedDelegations(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	nbf := time.Now().Add(-time.Minute)
	if _, err := root.verifier().Verify(forgeLease(t, root, leasejws.DelegationType, nbf, nbf.Add(MaxDelegation)), time.Now()); err != nil {
		t.Fatalf("a day-long delegation: %v", err)
	}
	for name, tok := range map[string]string{
		"a year":          forgeLease(t, root, leasejws.DelegationType, nbf, nbf.Add(365*24*time.Hour)),
		"a day and 1 s":   forgeLease(t, root, leasejws.DelegationType, nbf, nbf.Add(MaxDelegation+time.Second)),
		"typ JWT":         forgeLease(t, root, "JWT", nbf, nbf.Add(time.Hour)),
		"certificate typ": forgeLease(t, root, CertificateType, nbf, nbf.Add(time.Hour)),
		"no typ":          forgeLease(t, root, "", nbf, nbf.Add(time.Hour)),
	} {
		if _, err := root.verifier().Verify(tok, time.Now()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
}

// TestCertificateIsNoDelegation: certificates, delegations and leases are
// told apart by their typ, so none passes for another: a real certificate
// carried as a lease's delegation is refused, and a real delegation is not
// typed as a certificate.
func TestCertificateIsNoDelegation(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	cert, err := (&Certifier{Root: root, Issuer: "https://api.test"}).Certificate(context.Background(),
		License{ID: "lic", TenantID: "ten", Product: "coditect", Seats: 1, Status: "active", UpdatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	s := newSigner(t, root, Options{})
	typs := map[any]string{header(t, cert)["typ"]: "certificate", header(t, current(s))["typ"]: "delegation"}
	c := claims
	c.ExpiresAt = time.Now().Add(time.Minute)
	tok, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	typs[header(t, tok)["typ"]] = "lease"
	if len(typs) != 3 || typs[CertificateType] != "certificate" || typs[leasejws.DelegationType] != "delegation" || typs[Type] != "lease" {
		t.Fatalf("typs = %v, want three distinct", typs)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.verifier().Verify(leaseUnder(t, cert, "lic", key), time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a certificate as a delegation: Verify = %v, want ErrInvalid", err)
	}
}
