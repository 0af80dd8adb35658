package leasejws

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// digests are session digests of sessions the tests revoke.
var digests = []string{SessionDigest("c"), SessionDigest("a"), SessionDigest("b")}

// revocationsHeader is the header of a revocation list under d.
func (d testDelegation) revocationsHeader() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": RevocationsType, "kid": d.kid, "dlg": d.jws}
}

// revocationsPayload is a list of digests for license lic-1, issued now for
// an hour; change, when set, edits it.
func revocationsPayload(change func(p map[string]any)) map[string]any {
	p := map[string]any{"iss": "https://api.test", "license_id": "lic-1", "revoked": digests,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if change != nil {
		change(p)
	}
	return p
}

func TestVerifyRevocations(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(2*time.Hour), nil)
	// Unsorted, with a repeat: the verifier sorts whatever it is given.
	tok := d.lease(t, d.revocationsHeader(), revocationsPayload(func(p map[string]any) {
		p["revoked"] = append(slices.Clone(digests), digests[0])
	}))
	l, err := root.verifier().VerifyRevocations(tok, now)
	if err != nil {
		t.Fatalf("VerifyRevocations: %v", err)
	}
	want := slices.Sorted(slices.Values(digests))
	if l.Issuer != "https://api.test" || l.LicenseID != "lic-1" || !slices.Equal(l.Revoked, want) ||
		!l.IssuedAt.Equal(now) || !l.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("list = %+v", l)
	}
	for _, d := range digests {
		if !l.Has(d) {
			t.Errorf("Has(%s) = false", d)
		}
	}
	if l.Has(SessionDigest("z")) || l.Has("") {
		t.Error("Has a digest never revoked")
	}
	// Nothing revoked is a list too.
	empty := d.lease(t, d.revocationsHeader(), revocationsPayload(func(p map[string]any) { p["revoked"] = []string{} }))
	if l, err := root.verifier().VerifyRevocations(empty, now); err != nil || len(l.Revoked) != 0 || l.Has(digests[0]) {
		t.Fatalf("an empty list: %+v, %v", l, err)
	}
	// Fresh until exp, with the leeway, then refused.
	if _, err := root.verifier().VerifyRevocations(tok, now.Add(time.Hour+Leeway-time.Second)); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	if _, err := root.verifier().VerifyRevocations(tok, now.Add(time.Hour+Leeway)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired list: %v", err)
	}
}

func TestVerifyRevocationsRejects(t *testing.T) {
	t.Parallel()
	root, other := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(2*time.Hour), nil)
	rogue := other.delegate(t, now.Add(-time.Minute), now.Add(2*time.Hour), nil)
	old := root.delegate(t, now.Add(-3*time.Hour), now.Add(-2*time.Hour), nil)
	list := func(change func(p map[string]any)) string {
		return d.lease(t, d.revocationsHeader(), revocationsPayload(change))
	}
	withHeader := func(change func(h map[string]any)) string {
		h := d.revocationsHeader()
		change(h)
		return d.lease(t, h, revocationsPayload(nil))
	}
	good := list(nil)
	parts := strings.Split(good, ".")
	tooMany := make([]string, MaxRevocations+1)
	for i := range tooMany {
		tooMany[i] = SessionDigest(fmt.Sprint(i))
	}
	for name, tok := range map[string]string{
		"expired":                    list(func(p map[string]any) { p["exp"] = now.Add(-Leeway).Unix() }),
		"no exp":                     list(func(p map[string]any) { delete(p, "exp") }),
		"no iat":                     list(func(p map[string]any) { delete(p, "iat") }),
		"issued ahead":               list(func(p map[string]any) { p["iat"] = now.Add(Leeway + time.Second).Unix() }),
		"issued before delegation":   list(func(p map[string]any) { p["iat"] = now.Add(-time.Minute - Leeway - time.Second).Unix() }),
		"another issuer":             list(func(p map[string]any) { p["iss"] = "https://evil.test" }),
		"no issuer":                  list(func(p map[string]any) { delete(p, "iss") }),
		"no license":                 list(func(p map[string]any) { delete(p, "license_id") }),
		"no revoked":                 list(func(p map[string]any) { delete(p, "revoked") }),
		"revoked null":               list(func(p map[string]any) { p["revoked"] = nil }),
		"revoked a string":           list(func(p map[string]any) { p["revoked"] = digests[0] }),
		"revoked a session id":       list(func(p map[string]any) { p["revoked"] = []string{"s_0123456789abcdef"} }),
		"revoked upper-case":         list(func(p map[string]any) { p["revoked"] = []string{strings.ToUpper(digests[0])} }),
		"revoked a number":           list(func(p map[string]any) { p["revoked"] = []any{7} }),
		"too many":                   list(func(p map[string]any) { p["revoked"] = tooMany }),
		"delegation of a rogue":      rogue.lease(t, rogue.revocationsHeader(), revocationsPayload(nil)),
		"delegation expired":         old.lease(t, old.revocationsHeader(), revocationsPayload(nil)),
		"typ of a lease":             withHeader(func(h map[string]any) { h["typ"] = Type }),
		"no typ":                     withHeader(func(h map[string]any) { delete(h, "typ") }),
		"no delegation":              withHeader(func(h map[string]any) { delete(h, "dlg") }),
		"alg none":                   withHeader(func(h map[string]any) { h["alg"] = "none" }),
		"payload altered":            parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"https://api.test","license_id":"lic-1","revoked":[],"iat":1,"exp":99999999999}`)) + "." + parts[2],
		"signature altered":          parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64)),
		"oversize":                   good + strings.Repeat("A", maxRevocationsSize),
		"not three parts":            parts[0] + "." + parts[1],
		"a lease, signed by the key": d.lease(t, d.header(), leasePayload(claims)),
		"a certificate":              root.certificate(t, now, nil),
		"a delegation":               d.jws,
	} {
		if l, err := root.verifier().VerifyRevocations(tok, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: VerifyRevocations = %+v, %v; want ErrInvalid", name, l, err)
		}
	}
	// The other way round: a list is neither a lease nor a certificate.
	if _, err := root.verifier().Verify(good, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a list as a lease: %v", err)
	}
	if _, err := root.verifier().VerifyCertificate(good, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a list as a certificate: %v", err)
	}
	// Even a list whose payload also reads as a lease.
	leaseLike := d.lease(t, d.revocationsHeader(), revocationsPayload(func(p map[string]any) { p["sub"], p["lic"] = "sess", "lic-1" }))
	if _, err := root.verifier().VerifyRevocations(leaseLike, now); err != nil {
		t.Fatalf("a list with lease claims besides: %v", err)
	}
	if _, err := root.verifier().Verify(leaseLike, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a list with lease claims as a lease: %v", err)
	}
	if _, err := (Verifier{Roots: root.verifier().Roots, Issuer: "https://other.test"}).VerifyRevocations(good, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a verifier of another issuer took the list: %v", err)
	}
}

// TestRevocationsGolangJWT: a list another JOSE library (golang-jwt) signs
// under a delegation verifies, and golang-jwt verifies ours from the
// delegated key, reading the same claims.
func TestRevocationsGolangJWT(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(2*time.Hour), nil)
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(revocationsPayload(nil)))
	tok.Header["typ"], tok.Header["kid"], tok.Header["dlg"] = RevocationsType, d.kid, d.jws
	signed, err := tok.SignedString(d.key)
	if err != nil {
		t.Fatal(err)
	}
	l, err := root.verifier().VerifyRevocations(signed, now)
	if err != nil || l.LicenseID != "lic-1" || len(l.Revoked) != 3 {
		t.Fatalf("a list golang-jwt signed: %+v, %v", l, err)
	}

	ours := d.lease(t, d.revocationsHeader(), revocationsPayload(nil))
	var c struct {
		jwt.RegisteredClaims
		License string   `json:"license_id"`
		Revoked []string `json:"revoked"`
	}
	parsed, err := jwt.ParseWithClaims(ours, &c, func(*jwt.Token) (any, error) { return d.key.Public(), nil },
		jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(), jwt.WithIssuer("https://api.test"))
	if err != nil || parsed.Header["typ"] != RevocationsType || c.License != "lic-1" || !slices.Equal(c.Revoked, digests) {
		t.Fatalf("golang-jwt reads %v %+v: %v", parsed.Header, c, err)
	}
}

func TestIsSessionDigest(t *testing.T) {
	t.Parallel()
	if !IsSessionDigest(SessionDigest("s")) {
		t.Fatal("a digest is not one")
	}
	for _, s := range []string{"", "s", strings.Repeat("0", 31), strings.Repeat("0", 33), strings.Repeat("g", 32),
		strings.Repeat("A", 32), SessionDigest("s")[:31] + "\n"} {
		if IsSessionDigest(s) {
			t.Errorf("IsSessionDigest(%q) = true", s)
		}
	}
}
