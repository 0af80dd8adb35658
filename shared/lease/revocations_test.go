package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

func TestRevocations(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	s := newSigner(t, root, Options{})
	a, b, c := leasejws.SessionDigest("a"), leasejws.SessionDigest("b"), leasejws.SessionDigest("c")
	in := []string{c, a, b, a}
	now := time.Now().Truncate(time.Second)
	tok, err := s.Revocations("lic", in, now)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, []string{c, a, b, a}) {
		t.Fatalf("Revocations changed its argument: %v", in)
	}
	l, err := root.verifier().VerifyRevocations(tok, now)
	if err != nil {
		t.Fatalf("VerifyRevocations: %v", err)
	}
	if l.LicenseID != "lic" || l.Issuer != "https://api.test" || !slices.Equal(l.Revoked, slices.Sorted(slices.Values([]string{a, b, c}))) ||
		!l.IssuedAt.Equal(now) || !l.ExpiresAt.Equal(now.Add(RevocationsLifetime)) || !l.Has(b) || l.Has(leasejws.SessionDigest("d")) {
		t.Fatalf("list = %+v", l)
	}
	// Signed sorted and once each, as any reader sees it.
	if h := header(t, tok); h["alg"] != "EdDSA" || h["typ"] != RevocationsType || h["kid"] == "" || h["dlg"] != current(s) {
		t.Fatalf("header = %v", h)
	}
	payload, _ := b64.DecodeString(strings.Split(tok, ".")[1])
	sorted, _ := json.Marshal(slices.Sorted(slices.Values([]string{a, b, c})))
	if want := fmt.Sprintf(`{"iss":"https://api.test","license_id":"lic","revoked":%s,"iat":%d,"exp":%d}`,
		sorted, now.Unix(), now.Add(RevocationsLifetime).Unix()); string(payload) != want {
		t.Fatalf("payload = %s, want %s", payload, want)
	}
	// Once it expires (with the leeway) it is refused, and a verifier of
	// another issuer never takes it.
	if _, err := root.verifier().VerifyRevocations(tok, now.Add(RevocationsLifetime+leasejws.Leeway)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired list: %v", err)
	}
	other := root.verifier()
	other.Issuer = "https://other.test"
	if _, err := other.VerifyRevocations(tok, now); !errors.Is(err, ErrInvalid) {
		t.Fatalf("another issuer's verifier: %v", err)
	}

	// Nothing revoked: "revoked":[], a list all the same.
	for _, none := range [][]string{nil, {}} {
		tok, err := s.Revocations("lic", none, now)
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := b64.DecodeString(strings.Split(tok, ".")[1])
		if l, err := root.verifier().VerifyRevocations(tok, now); err != nil || len(l.Revoked) != 0 || !strings.Contains(string(payload), `"revoked":[]`) {
			t.Fatalf("an empty list: %+v, %v, %s", l, err, payload)
		}
	}
}

func TestRevocationsRefuses(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	var clock atomic.Pointer[time.Time]
	start := time.Now()
	clock.Store(&start)
	s := newSigner(t, root, Options{Lifetime: 30 * time.Minute, Now: func() time.Time { return *clock.Load() }})
	full := make([]string, MaxRevocations)
	for i := range full {
		full[i] = leasejws.SessionDigest(fmt.Sprint(i))
	}
	// The bound counts distinct sessions: repeats are free.
	tok, err := s.Revocations("lic", append(full, full[:10]...), start)
	if err != nil {
		t.Fatalf("a full list: %v", err)
	}
	if l, err := root.verifier().VerifyRevocations(tok, start); err != nil || len(l.Revoked) != MaxRevocations {
		t.Fatalf("a full list: %d digests, %v", len(l.Revoked), err)
	}
	for name, c := range map[string]struct {
		lic     string
		digests []string
	}{
		"no license":           {"", nil},
		"one too many":         {"lic", append(full, leasejws.SessionDigest("more"))},
		"a session id":         {"lic", []string{"s_0123456789abcdef"}},
		"an upper-case digest": {"lic", []string{strings.ToUpper(full[0])}},
		"an empty digest":      {"lic", []string{""}},
	} {
		if tok, err := s.Revocations(c.lic, c.digests, start); err == nil {
			t.Errorf("%s: signed %.40q", name, tok)
		}
	}
	// A list never outlives the delegation that signs it (half an hour
	// here), and none is signed once that has expired.
	tok, err = s.Revocations("lic", nil, start)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := root.verifier().VerifyRevocations(tok, start); err != nil || l.ExpiresAt.After(start.Add(30*time.Minute)) {
		t.Fatalf("a list outlives its delegation: %+v, %v", l, err)
	}
	if _, err := s.Revocations("lic", nil, start.Add(30*time.Minute+time.Second)); !errors.Is(err, ErrNoDelegation) {
		t.Fatalf("signing with an expired delegation: %v", err)
	}
}

// TestRevocationsTypes: a lease, a revocation list and a certificate of
// this server are told apart by their typ: none verifies as another.
func TestRevocationsTypes(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	s := newSigner(t, root, Options{})
	now := time.Now()
	c := claims
	c.ExpiresAt = now.Add(time.Hour)
	lease, err := s.Lease(c)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Revocations("lic", []string{leasejws.SessionDigest("a")}, now)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := (&Certifier{Root: root, Issuer: "https://api.test"}).Certificate(context.Background(),
		License{ID: "lic", TenantID: "ten", Product: "coditect", Seats: 1, Status: "active", TenantStatus: "active", UpdatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	v := root.verifier()
	if _, err := v.Verify(lease, now); err != nil {
		t.Fatalf("the lease: %v", err)
	}
	if _, err := v.VerifyRevocations(list, now); err != nil {
		t.Fatalf("the list: %v", err)
	}
	if _, err := v.VerifyCertificate(cert, now); err != nil {
		t.Fatalf("the certificate: %v", err)
	}
	for name, err := range map[string]error{
		"a list as a lease":         second(v.Verify(list, now)),
		"a list as a certificate":   second(v.VerifyCertificate(list, now)),
		"a lease as a list":         second(v.VerifyRevocations(lease, now)),
		"a certificate as a list":   second(v.VerifyRevocations(cert, now)),
		"a delegation as a list":    second(v.VerifyRevocations(current(s), now)),
		"the list's delegation too": second(v.VerifyRevocations(header(t, list)["dlg"].(string), now)),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestRevocationsGolangJWT: another JOSE library (golang-jwt) verifies the
// signer's list from the root key alone: the delegation under the root,
// the list under the key it vouches for, its typ and claims as written.
func TestRevocationsGolangJWT(t *testing.T) {
	t.Parallel()
	root := newTestRoot(t)
	s := newSigner(t, root, Options{})
	a := leasejws.SessionDigest("a")
	tok, err := s.Revocations("lic", []string{a}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var dlg struct {
		jwt.RegisteredClaims
		JWK leasejws.OKPKey `json:"jwk"`
	}
	if _, err := jwt.ParseWithClaims(header(t, tok)["dlg"].(string), &dlg, func(*jwt.Token) (any, error) {
		return &root.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("https://api.test")); err != nil {
		t.Fatalf("golang-jwt: delegation: %v", err)
	}
	var c struct {
		jwt.RegisteredClaims
		License string   `json:"license_id"`
		Revoked []string `json:"revoked"`
	}
	parsed, err := jwt.ParseWithClaims(tok, &c, func(*jwt.Token) (any, error) { return dlg.JWK.Ed25519() },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithIssuer("https://api.test"))
	if err != nil {
		t.Fatalf("golang-jwt: list: %v", err)
	}
	if parsed.Header["typ"] != RevocationsType || parsed.Header["kid"] != dlg.Subject || c.License != "lic" ||
		!slices.Equal(c.Revoked, []string{a}) || c.ExpiresAt.Sub(c.IssuedAt.Time) != RevocationsLifetime {
		t.Fatalf("golang-jwt reads %v %+v", parsed.Header, c)
	}
	bad := []byte(tok)
	bad[len(bad)-5] ^= 1
	if _, err := jwt.Parse(string(bad), func(*jwt.Token) (any, error) { return dlg.JWK.Ed25519() },
		jwt.WithValidMethods([]string{"EdDSA"})); err == nil {
		t.Fatal("golang-jwt took a tampered list")
	}
}
