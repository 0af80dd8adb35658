package leasejws

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzVerify mutates real leases, borrow leases among them (and hostile
// variants of them). A token
// verifies only when it is byte for byte one the signer issued, and then
// says exactly what was signed; anything else is ErrInvalid, never a
// panic; golang-jwt decides the same. Tokens are verified at a fixed instant inside their validity, so
// a failure is the same on every run.
func FuzzVerify(f *testing.F) {
	root := newTestRoot(f)
	d := root.delegate(f, now.Add(-time.Minute), now.Add(MaxDelegation-time.Minute), nil)
	signed := map[string]Claims{}
	for i, fp := range []string{"fp", "a'b", "\"]])redis.call('FLUSHALL')--", "ünï"} {
		c := Claims{Issuer: "https://api.test", SessionDigest: "sess" + strings.Repeat("x", i), LicenseID: "lic", TenantID: "ten",
			Fingerprint: fp, IssuedAt: now, ExpiresAt: now.Add(time.Duration(i+1) * time.Minute)}
		if i%2 == 1 { // borrow leases, bound to a device key
			_, jwk, err := NewDeviceKey()
			if err != nil {
				f.Fatal(err)
			}
			c.Borrow, c.Confirmation = true, &jwk
		}
		tok := d.lease(f, d.header(), leasePayload(c))
		signed[tok] = c
		parts := strings.Split(tok, ".")
		f.Add(tok)
		// The last character of the 86-character Ed25519 signature
		// carries 4 unused bits: a decoder that ignores them lets 15 other
		// strings verify as this lease (found and fixed in 088dd54).
		for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
			if m := tok[:len(tok)-1] + string(c); m != tok {
				f.Add(m)
			}
		}
		// Go's base64 skips line breaks: a lease with one inserted in its
		// signature once verified as another spelling of itself.
		f.Add(parts[0] + "." + parts[1] + "." + parts[2][:10] + "\r\n" + parts[2][10:])
		f.Add(parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:])
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + "." + parts[1] + "." + parts[2] + "=")
		f.Add(parts[0] + ".." + parts[2])
		f.Add(strings.Replace(tok, parts[1], b64.EncodeToString([]byte(`{"sub":"sess","lic":"lic","exp":99999999999}`)), 1))
	}
	f.Add("not.a.lease")
	f.Add("")
	f.Add("\x00.\xff.")
	// A lease header without the delegation it must carry.
	f.Add(b64.EncodeToString([]byte(`{"alg":"EdDSA","typ":"`+Type+`"}`)) + ".e30.AA")
	v := root.verifier()
	f.Fuzz(func(t *testing.T, token string) {
		sameVerdict(t, v, token, now)
		got, err := v.Verify(token, now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify(%.80q) = %v, not ErrInvalid", token, err)
			}
			return
		}
		want, ok := signed[token]
		if !ok {
			t.Fatalf("Verify accepted %q, which was never signed", token)
		}
		if got.SessionDigest != want.SessionDigest || got.LicenseID != want.LicenseID || got.TenantID != want.TenantID ||
			got.Fingerprint != want.Fingerprint || got.Issuer != want.Issuer || !got.ExpiresAt.Equal(want.ExpiresAt.Truncate(time.Second)) ||
			got.Borrow != want.Borrow || !sameKey(got.Confirmation, want.Confirmation) {
			t.Fatalf("Verify(%.80q) = %+v, signed %+v", token, got, want)
		}
	})
}

// FuzzVerifierFromKeys feeds any /v1/keys document to VerifierFromKeys: it
// never panics, and pins only RSA keys of at least 2048 bits with a public
// exponent of at least 3, each under its own kid.
func FuzzVerifierFromKeys(f *testing.F) {
	root := newTestRoot(f)
	doc, err := json.Marshal(Keys{Keys: []map[string]string{rootJWK(&root.key.PublicKey, root.kid)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	for _, s := range []string{`{"keys":[]}`, `{"keys":[{"kty":"RSA","kid":"k","n":"AQAB","e":"AQAB"}]}`, `{"keys":null}`,
		`{"keys":[{"kty":"RSA","kid":"k","n":"` + strings.Repeat("_", 400) + `","e":"_____"}]}`, `{"keys":[{"kty":"EC"}]}`,
		`{"keys":[{"kty":"RSA","kid":"","n":"x","e":"AQAB"}]}`, `[]`, `{"keys":[{"kty":"RSA","kid":"k","n":"!","e":"AQAB"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		v, err := VerifierFromKeys(doc, "https://api.test")
		if err != nil {
			return
		}
		if len(v.Roots) == 0 {
			t.Fatalf("VerifierFromKeys(%.80q) pinned nothing", doc)
		}
		for kid, pub := range v.Roots {
			if kid == "" || pub.N.BitLen() < 2048 || pub.E < 3 {
				t.Fatalf("VerifierFromKeys(%.80q) pinned %q: %d bits, e=%d", doc, kid, pub.N.BitLen(), pub.E)
			}
		}
	})
}

// FuzzVerifyRevocations mutates real revocation lists: VerifyRevocations
// never panics, refuses with ErrInvalid, and takes a list only when it is
// byte for byte one the delegated key signed, reading what was signed.
func FuzzVerifyRevocations(f *testing.F) {
	root := newTestRoot(f)
	d := root.delegate(f, now.Add(-time.Minute), now.Add(time.Hour), nil)
	signed := map[string][]string{}
	for _, revoked := range [][]string{{}, {SessionDigest("a")}, {SessionDigest("b"), SessionDigest("a"), SessionDigest("b")}} {
		tok := d.lease(f, d.revocationsHeader(), revocationsPayload(func(p map[string]any) { p["revoked"] = revoked }))
		signed[tok] = revoked
		parts := strings.Split(tok, ".")
		f.Add(tok)
		f.Add(tok[:len(tok)-1] + "B")
		f.Add(parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:])
		f.Add(parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"https://api.test","license_id":"lic-1","revoked":[],"exp":99999999999}`)) + "." + parts[2])
		f.Add(d.lease(f, d.header(), leasePayload(claims)))
	}
	v := root.verifier()
	f.Fuzz(func(t *testing.T, token string) {
		l, err := v.VerifyRevocations(token, now)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("VerifyRevocations(%.80q) = %v, not ErrInvalid", token, err)
			}
			return
		}
		revoked, ok := signed[token]
		if !ok {
			t.Fatalf("VerifyRevocations took %q, which was never signed", token)
		}
		if l.LicenseID != "lic-1" || len(l.Revoked) > len(revoked) {
			t.Fatalf("VerifyRevocations(%.80q) = %+v, signed %v", token, l, revoked)
		}
		for _, r := range revoked {
			if !l.Has(r) {
				t.Fatalf("VerifyRevocations(%.80q) = %+v, lost %s", token, l, r)
			}
		}
	})
}
