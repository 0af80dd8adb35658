package leasejws

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

// now is the instant the table tests verify at.
var now = time.Date(2026, 11, 26, 1, 0, 0, 0, time.UTC)

var claims = Claims{Issuer: "https://api.test", SessionDigest: "sess", LicenseID: "lic", TenantID: "ten", Fingerprint: "fp",
	IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
	tok := d.lease(t, d.header(), leasePayload(claims))
	got, err := root.verifier().Verify(tok, now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Issuer != claims.Issuer || got.SessionDigest != "sess" || got.LicenseID != "lic" || got.TenantID != "ten" ||
		got.Fingerprint != "fp" || !got.IssuedAt.Equal(claims.IssuedAt) || !got.ExpiresAt.Equal(claims.ExpiresAt) {
		t.Fatalf("claims = %+v", got)
	}
	// Leeway either side of the lease's expiry, then no more.
	if _, err := root.verifier().Verify(tok, claims.ExpiresAt.Add(Leeway-time.Nanosecond)); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	if _, err := root.verifier().Verify(tok, claims.ExpiresAt.Add(Leeway)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired lease: %v", err)
	}
	// Without an issuer to expect, any is taken.
	if _, err := (Verifier{Roots: root.verifier().Roots}).Verify(tok, now); err != nil {
		t.Fatalf("no issuer expected: %v", err)
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	root, other := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
	hdr := d.header()
	good := d.lease(t, hdr, leasePayload(claims))
	parts := strings.Split(good, ".")
	payload, _ := b64.DecodeString(parts[1])

	// A delegation signed by a key that is not a pinned root.
	rogue := other.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
	// A delegation that has expired: made two hours ago, living one hour.
	old := root.delegate(t, now.Add(-2*time.Hour), now.Add(-time.Hour), nil)
	oc := claims
	oc.IssuedAt, oc.ExpiresAt = now.Add(-90*time.Minute), now.Add(-65*time.Minute)

	// alg substitutions: HS256 keyed with the root public key, and none.
	withAlg := func(alg string) map[string]any {
		h := maps.Clone(hdr)
		h["alg"] = alg
		return h
	}
	hs := compact(t, withAlg("HS256"), leasePayload(claims), func(in []byte) []byte {
		m := hmac.New(sha256.New, root.key.N.Bytes())
		m.Write(in)
		return m.Sum(nil)
	})
	none := compact(t, withAlg("none"), leasePayload(claims), func([]byte) []byte { return nil })
	// A delegation whose alg is swapped to none, keeping its payload.
	dlgParts := strings.Split(d.jws, ".")
	noneDlg := b64.EncodeToString([]byte(`{"alg":"none","kid":"`+root.kid+`"}`)) + "." + dlgParts[1] + "."
	withHeader := func(h map[string]any) string {
		b, _ := json.Marshal(h)
		return b64.EncodeToString(b) + "." + parts[1] + "." + parts[2]
	}
	swapped := maps.Clone(hdr)
	swapped["dlg"] = noneDlg

	cases := map[string]string{
		"tampered payload":              parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payload), `"fp"`, `"fq"`, 1))) + "." + parts[2],
		"tampered signature":            parts[0] + "." + parts[1] + "." + b64.EncodeToString(make([]byte, 64)),
		"delegation from a rogue root":  rogue.lease(t, rogue.header(), leasePayload(claims)),
		"delegation expired":            old.lease(t, old.header(), leasePayload(oc)),
		"HS256 with the root key":       hs,
		"alg none":                      none,
		"delegation alg none":           withHeader(swapped),
		"no delegation":                 withHeader(map[string]any{"alg": "EdDSA", "typ": "lease+jwt", "kid": hdr["kid"]}),
		"wrong typ":                     withHeader(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": hdr["kid"], "dlg": hdr["dlg"]}),
		"kid of another delegated key":  withHeader(map[string]any{"alg": "EdDSA", "typ": "lease+jwt", "kid": "x", "dlg": hdr["dlg"]}),
		"another instance's delegation": withHeader(map[string]any{"alg": "EdDSA", "typ": "lease+jwt", "kid": hdr["kid"], "dlg": rogue.jws}),
		"garbage":                       "not.a.lease",
		"four segments":                 good + ".",
		"padded signature":              good + "=",
		"spare bits in the signature":   good[:len(good)-1] + string(good[len(good)-1]+1),
	}
	for name, tok := range cases {
		if _, err := root.verifier().Verify(tok, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := (Verifier{Roots: root.verifier().Roots, Issuer: "https://other"}).Verify(good, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a lease of another issuer: Verify = %v, want ErrInvalid", err)
	}
}

// TestClaimRules: what a correctly signed lease or delegation must say to be
// accepted. The rules are golang-jwt's (FuzzVerifyAsGolangJWT holds the two
// equal); these cases pin the ones that matter.
func TestClaimRules(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
	at := func(t time.Time) int64 { return t.Unix() }
	lease := func(change func(p map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			p := leasePayload(claims)
			change(p)
			return d.lease(t, d.header(), p)
		}
	}
	delegation := func(change func(p map[string]any)) func(t *testing.T) string {
		return func(t *testing.T) string {
			dd := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), change)
			return dd.lease(t, dd.header(), leasePayload(claims))
		}
	}
	for _, c := range []struct {
		name  string
		token func(t *testing.T) string
		ok    bool
	}{
		{"as issued", lease(func(map[string]any) {}), true},
		{"issued just within the leeway ahead", lease(func(p map[string]any) { p["iat"] = at(now.Add(Leeway)) }), true},
		{"issued ahead of the leeway", lease(func(p map[string]any) { p["iat"] = at(now.Add(Leeway + time.Second)) }), false},
		{"no iat", lease(func(p map[string]any) { delete(p, "iat") }), false},
		{"no exp", lease(func(p map[string]any) { delete(p, "exp") }), false},
		{"exp null", lease(func(p map[string]any) { p["exp"] = nil }), false},
		{"exp a quoted number", lease(func(p map[string]any) { p["exp"] = "9999999999" }), true},
		{"exp a fraction", lease(func(p map[string]any) { p["exp"] = float64(at(claims.ExpiresAt)) + 0.75 }), true},
		{"exp not a number", lease(func(p map[string]any) { p["exp"] = "soon" }), false},
		{"expired within the leeway", lease(func(p map[string]any) { p["exp"] = at(now.Add(-Leeway + time.Second)) }), true},
		{"expired", lease(func(p map[string]any) { p["exp"] = at(now.Add(-Leeway)) }), false},
		{"not valid yet", lease(func(p map[string]any) { p["nbf"] = at(now.Add(Leeway + time.Second)) }), false},
		{"nbf within the leeway", lease(func(p map[string]any) { p["nbf"] = at(now.Add(Leeway)) }), true},
		// The delegation is valid from a minute ago (nbf) for an hour.
		{"issued at the delegation's nbf less the leeway", lease(func(p map[string]any) { p["iat"] = at(now.Add(-time.Minute - Leeway)) }), true},
		{"issued before the delegation", lease(func(p map[string]any) { p["iat"] = at(now.Add(-time.Minute - Leeway - time.Second)) }), false},
		{"issued as the delegation expires", issuedAfterDelegation(root, 0), true},
		{"issued after the delegation", issuedAfterDelegation(root, time.Second), false},
		{"no session", lease(func(p map[string]any) { delete(p, "sub") }), false},
		{"no license", lease(func(p map[string]any) { p["lic"] = "" }), false},
		{"no tenant or fingerprint", lease(func(p map[string]any) { delete(p, "ten"); delete(p, "fpr") }), true},
		{"no issuer", lease(func(p map[string]any) { delete(p, "iss") }), false},
		{"another issuer", lease(func(p map[string]any) { p["iss"] = "https://other" }), false},
		{"license not a string", lease(func(p map[string]any) { p["lic"] = 7 }), false},
		{"aud a string", lease(func(p map[string]any) { p["aud"] = "x" }), true},
		{"aud strings", lease(func(p map[string]any) { p["aud"] = []any{"x", "y"} }), true},
		{"aud a number", lease(func(p map[string]any) { p["aud"] = 1 }), false},
		{"aud with a number", lease(func(p map[string]any) { p["aud"] = []any{"x", 1} }), false},
		{"jti a number", lease(func(p map[string]any) { p["jti"] = 1 }), false},
		// Names match as encoding/json matches them.
		{"upper-case names", lease(func(p map[string]any) { p["LIC"] = p["lic"]; delete(p, "lic") }), true},
		{"delegation as issued", delegation(nil), true},
		{"delegation without nbf", delegation(func(p map[string]any) { delete(p, "nbf") }), false},
		{"delegation without exp", delegation(func(p map[string]any) { delete(p, "exp") }), false},
		{"delegation not valid yet", delegation(func(p map[string]any) { p["nbf"] = at(now.Add(Leeway + time.Second)) }), false},
		{"delegation of another issuer", delegation(func(p map[string]any) { p["iss"] = "https://other" }), false},
		{"delegation of another subject", delegation(func(p map[string]any) { p["sub"] = "x" }), false},
		{"delegated key not OKP", delegation(func(p map[string]any) { j := p["jwk"].(OKPKey); j.Kty = "EC"; p["jwk"] = j }), false},
		{"delegated key malformed", delegation(func(p map[string]any) { j := p["jwk"].(OKPKey); j.X = j.X[1:]; p["jwk"] = j }), false},
		{"delegated key without kid", delegation(func(p map[string]any) { j := p["jwk"].(OKPKey); j.Kid = ""; p["jwk"] = j }), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := root.verifier().Verify(c.token(t), now)
			if c.ok && err != nil {
				t.Fatalf("Verify = %v, want success", err)
			}
			if !c.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestDelegationBounds: a delegation the pinned root really signed vouches
// for a key only when it says it is a delegation and lives at most a day.
// The lease under each is otherwise perfect (issued now, for 5 minutes), so
// only the delegation decides; golang-jwt (jwtVerify) and jwx (jwxVerify)
// decide the same.
func TestDelegationBounds(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	nbf := now.Add(-time.Minute)
	for _, c := range []struct {
		name string
		d    func(t *testing.T) testDelegation
		ok   bool
	}{
		{"a day", func(t *testing.T) testDelegation {
			return root.delegate(t, nbf, nbf.Add(MaxDelegation), nil)
		}, true},
		{"a day and a second", func(t *testing.T) testDelegation {
			return root.delegate(t, nbf, nbf.Add(MaxDelegation+time.Second), nil)
		}, false},
		{"a year, forged with the root key", func(t *testing.T) testDelegation {
			return root.delegate(t, nbf, nbf.Add(365*24*time.Hour), nil)
		}, false},
		{"a year, nbf left out", func(t *testing.T) testDelegation {
			return root.delegate(t, nbf, nbf.Add(365*24*time.Hour), func(p map[string]any) { delete(p, "nbf") })
		}, false},
		{"typ JWT, as servers wrote it before", func(t *testing.T) testDelegation {
			return root.delegateAs(t, "JWT", nbf, now.Add(time.Hour), nil)
		}, false},
		{"typ of a license certificate", func(t *testing.T) testDelegation {
			return root.delegateAs(t, "license+jwt", nbf, now.Add(time.Hour), nil)
		}, false},
		{"typ of a lease", func(t *testing.T) testDelegation {
			return root.delegateAs(t, Type, nbf, now.Add(time.Hour), nil)
		}, false},
		{"no typ", func(t *testing.T) testDelegation {
			return root.delegateAs(t, "", nbf, now.Add(time.Hour), nil)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := c.d(t)
			tok := d.lease(t, d.header(), leasePayload(claims))
			_, err := root.verifier().Verify(tok, now)
			if c.ok && err != nil {
				t.Fatalf("Verify = %v, want success", err)
			}
			if !c.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %v, want ErrInvalid", err)
			}
			sameVerdict(t, root.verifier(), tok, now)
			if err := jwxVerify(root.verifier(), tok, now); (err == nil) != c.ok {
				t.Fatalf("jwx: %v, want ok=%v", err, c.ok)
			}
		})
	}
}

// issuedAfterDelegation is a lease issued late after its delegation
// expired, verified (at now) within the delegation's leeway.
func issuedAfterDelegation(root *testRoot, late time.Duration) func(t *testing.T) string {
	return func(t *testing.T) string {
		d := root.delegate(t, now.Add(-time.Hour), now.Add(-Leeway/2), nil)
		c := claims
		c.IssuedAt = now.Add(-Leeway/2 + late)
		return d.lease(t, d.header(), leasePayload(c))
	}
}

// TestHeaderRules: the header of a correctly signed lease.
func TestHeaderRules(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
	for name, change := range map[string]func(h map[string]any){
		"typ missing":    func(h map[string]any) { delete(h, "typ") },
		"typ upper-case": func(h map[string]any) { h["typ"] = strings.ToUpper(Type) },
		"dlg empty":      func(h map[string]any) { h["dlg"] = "" },
		"dlg an object":  func(h map[string]any) { h["dlg"] = map[string]any{} },
		"kid missing":    func(h map[string]any) { delete(h, "kid") },
		"alg missing":    func(h map[string]any) { delete(h, "alg") },
		"alg RS256":      func(h map[string]any) { h["alg"] = "RS256" },
	} {
		h := d.header()
		change(h)
		if _, err := root.verifier().Verify(d.lease(t, h, leasePayload(claims)), now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Verify = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := root.verifier().Verify(d.lease(t, []byte(`null`), leasePayload(claims)), now); !errors.Is(err, ErrInvalid) {
		t.Errorf("null header: Verify = %v, want ErrInvalid", err)
	}
}

// TestNewOKPKey checks the thumbprint against RFC 8037 appendix A.3.
func TestNewOKPKey(t *testing.T) {
	t.Parallel()
	pub, err := b64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	got := NewOKPKey(ed25519.PublicKey(pub))
	want := OKPKey{Kty: "OKP", Crv: "Ed25519", X: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
		Kid: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"}
	if got != want {
		t.Fatalf("NewOKPKey = %+v, want %+v", got, want)
	}
}

func TestVerifierFromKeys(t *testing.T) {
	t.Parallel()
	root, other := testRoots(t)
	doc, err := json.Marshal(Keys{Keys: []map[string]string{rootJWK(&root.key.PublicKey, root.kid),
		rootJWK(&other.key.PublicKey, other.kid)}})
	if err != nil {
		t.Fatal(err)
	}
	// Servers before this version also listed their delegations: ignored.
	doc = append(doc[:len(doc)-1], `,"delegations":["ignored"]}`...)
	v, err := VerifierFromKeys(doc, "https://api.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Roots) != 2 || !v.Roots[root.kid].Equal(&root.key.PublicKey) || !v.Roots[other.kid].Equal(&other.key.PublicKey) ||
		v.Issuer != "https://api.test" {
		t.Fatalf("VerifierFromKeys = %+v", v)
	}
	weak := &rsa.PublicKey{N: root.key.N, E: 1}
	for name, doc := range map[string]string{
		"not JSON": "nope", "no keys": `{"keys":[]}`, "EC key": `{"keys":[{"kty":"EC","kid":"a","crv":"P-256"}]}`,
		"no kid": `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`, "short key": `{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]}`,
		"e of 1": `{"keys":[` + string(must(json.Marshal(rootJWK(weak, "a")))) + `]}`,
	} {
		if _, err := VerifierFromKeys([]byte(doc), ""); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestBorrowLease: a borrow lease says so and names its device key, and
// reads back as written; a "cnf" that is not exactly an Ed25519 JWK makes
// the lease invalid, however well it is signed; a lease without either
// claim reads as before.
func TestBorrowLease(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
	_, jwk, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	c := claims
	c.Borrow, c.Confirmation = true, &jwk
	tok := d.lease(t, d.header(), leasePayload(c))
	got, err := root.verifier().Verify(tok, now)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !got.Borrow || got.Confirmation == nil || *got.Confirmation != jwk || got.SessionDigest != "sess" {
		t.Fatalf("claims = %+v, cnf %+v", got, got.Confirmation)
	}
	sameVerdict(t, root.verifier(), tok, now)
	if got, err := root.verifier().Verify(d.lease(t, d.header(), leasePayload(claims)), now); err != nil ||
		got.Borrow || got.Confirmation != nil {
		t.Fatalf("a lease without borrow claims: %+v, %v", got, err)
	}

	withKid := NewOKPKey(must(jwk.Ed25519()))
	for _, k := range []struct {
		name string
		cnf  any
		ok   bool
	}{
		{"as written", map[string]any{"jwk": jwk}, true},
		{"with a kid", map[string]any{"jwk": withKid}, true},
		{"null", nil, false},
		{"empty", map[string]any{}, false},
		{"an array", []any{jwk}, false},
		{"jwk null", map[string]any{"jwk": nil}, false},
		{"jwk and another method", map[string]any{"jwk": jwk, "kid": "k"}, false},
		{"a kid instead", map[string]any{"kid": withKid.Kid}, false},
		{"jwk upper-case", map[string]any{"JWK": jwk}, false},
		{"EC", map[string]any{"jwk": OKPKey{Kty: "EC", Crv: "Ed25519", X: jwk.X}}, false},
		{"X25519", map[string]any{"jwk": OKPKey{Kty: "OKP", Crv: "X25519", X: jwk.X}}, false},
		{"x short", map[string]any{"jwk": OKPKey{Kty: "OKP", Crv: "Ed25519", X: jwk.X[:42]}}, false},
		{"x padded", map[string]any{"jwk": OKPKey{Kty: "OKP", Crv: "Ed25519", X: jwk.X + "="}}, false},
		{"x of 33 bytes", map[string]any{"jwk": OKPKey{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(make([]byte, 33))}}, false},
		{"x with a line break", map[string]any{"jwk": OKPKey{Kty: "OKP", Crv: "Ed25519", X: jwk.X[:10] + "\n" + jwk.X[11:]}}, false},
		{"x standard base64", map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "+" + jwk.X[1:]}}, false},
		{"a private key", map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": jwk.X, "d": jwk.X}}, false},
		{"kid a number", map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": jwk.X, "kid": 7}}, false},
		{"x null", map[string]any{"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": nil}}, false},
	} {
		t.Run(k.name, func(t *testing.T) {
			p := leasePayload(claims)
			p["borrow"], p["cnf"] = true, k.cnf
			tok := d.lease(t, d.header(), p)
			got, err := root.verifier().Verify(tok, now)
			if k.ok && (err != nil || got.Confirmation == nil) {
				t.Fatalf("Verify = %+v, %v; want success", got, err)
			}
			if !k.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalid", got, err)
			}
			sameVerdict(t, root.verifier(), tok, now)
		})
	}
	for _, b := range []any{"true", 1, map[string]any{}} {
		p := leasePayload(claims)
		p["borrow"] = b
		if _, err := root.verifier().Verify(d.lease(t, d.header(), p), now); !errors.Is(err, ErrInvalid) {
			t.Errorf("borrow %v: Verify = %v, want ErrInvalid", b, err)
		}
	}
}

// TestOverageLease: "overage": true reads as Claims.Overage; a lease
// without the claim is entitled; a claim that is not a boolean fails the
// lease, as every verifier must refuse it alike.
func TestOverageLease(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	d := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
	c := claims
	c.Overage = true
	got, err := root.verifier().Verify(d.lease(t, d.header(), leasePayload(c)), now)
	if err != nil || !got.Overage || got.Borrow || got.SessionDigest != "sess" {
		t.Fatalf("an overage lease = %+v, %v", got, err)
	}
	if got, err := root.verifier().Verify(d.lease(t, d.header(), leasePayload(claims)), now); err != nil || got.Overage {
		t.Fatalf("a lease without the claim = %+v, %v; want entitled", got, err)
	}
	p := leasePayload(claims)
	p["overage"] = false
	if got, err := root.verifier().Verify(d.lease(t, d.header(), p), now); err != nil || got.Overage {
		t.Fatalf("overage false = %+v, %v", got, err)
	}
	for _, v := range []any{"true", 1, map[string]any{}, []any{true}} {
		p := leasePayload(claims)
		p["overage"] = v
		tok := d.lease(t, d.header(), p)
		if _, err := root.verifier().Verify(tok, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("overage %v: Verify = %v, want ErrInvalid", v, err)
		}
	}
}
