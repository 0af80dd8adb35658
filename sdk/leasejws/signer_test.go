package leasejws

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"maps"
	"math/big"
	"sync"
	"testing"
	"time"
)

// The server signs leases (shared/lease), and this package may not import
// it: the tests make their own delegations and leases, in the same format,
// with the standard library.

// testRoot is a root key in memory. 2048 bits keep the tests fast; the
// server insists on 4096.
type testRoot struct {
	key *rsa.PrivateKey
	kid string
}

var (
	rootsOnce sync.Once
	roots     [2]*testRoot
)

// testRoots returns two root keys, made once per test binary.
func testRoots(t testing.TB) (*testRoot, *testRoot) {
	t.Helper()
	rootsOnce.Do(func() {
		for i := range roots {
			roots[i] = newTestRoot(t)
		}
	})
	return roots[0], roots[1]
}

func newTestRoot(t testing.TB) *testRoot {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// The server's kids are RFC 7638 thumbprints; any name pins a key.
	return &testRoot{key: k, kid: "root-" + b64.EncodeToString(k.N.Bytes()[:9])}
}

// rootJWK is pub as /v1/keys lists it.
func rootJWK(pub *rsa.PublicKey, kid string) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64.EncodeToString(pub.N.Bytes()), "e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
}

func (r *testRoot) verifier() Verifier {
	return Verifier{Roots: map[string]*rsa.PublicKey{r.kid: &r.key.PublicKey}, Issuer: "https://api.test"}
}

func (r *testRoot) sign(t testing.TB) func([]byte) []byte {
	return func(input []byte) []byte {
		d := sha256.Sum256(input)
		sig, err := rsa.SignPKCS1v15(rand.Reader, r.key, crypto.SHA256, d[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

// compact returns the compact JWS of header and payload, each JSON-encoded
// unless already []byte, signed by sign.
func compact(t testing.TB, header, payload any, sign func([]byte) []byte) string {
	t.Helper()
	enc := func(v any) string {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		return b64.EncodeToString(b)
	}
	input := enc(header) + "." + enc(payload)
	return input + "." + b64.EncodeToString(sign([]byte(input)))
}

// testDelegation is a delegated key and the root's delegation of it.
type testDelegation struct {
	key ed25519.PrivateKey
	kid string
	jws string
}

// delegate has r sign a delegation of a new key, valid from nbf to exp as
// the server makes them; change, when set, edits its payload first.
func (r *testRoot) delegate(t testing.TB, nbf, exp time.Time, change func(map[string]any)) testDelegation {
	t.Helper()
	return r.delegateAs(t, DelegationType, nbf, exp, change)
}

// delegateAs is delegate with the given header "typ" ("": none).
func (r *testRoot) delegateAs(t testing.TB, typ string, nbf, exp time.Time, change func(map[string]any)) testDelegation {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := NewOKPKey(pub)
	payload := map[string]any{"iss": "https://api.test", "sub": jwk.Kid, "jwk": jwk,
		"iat": nbf.Add(time.Minute).Unix(), "nbf": nbf.Unix(), "exp": exp.Unix()}
	if change != nil {
		change(payload)
	}
	header := map[string]any{"alg": "RS256", "kid": r.kid}
	if typ != "" {
		header["typ"] = typ
	}
	return testDelegation{key: priv, kid: jwk.Kid, jws: compact(t, header, payload, r.sign(t))}
}

// header is the header of a lease under d.
func (d testDelegation) header() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": Type, "kid": d.kid, "dlg": d.jws}
}

// leasePayload is the payload of c as the server writes it: "borrow" and
// "cnf" only when set.
func leasePayload(c Claims) map[string]any {
	p := map[string]any{"iss": c.Issuer, "sub": c.SessionDigest, "lic": c.LicenseID, "ten": c.TenantID,
		"fpr": c.Fingerprint, "iat": c.IssuedAt.Unix(), "exp": c.ExpiresAt.Unix()}
	if c.Borrow {
		p["borrow"] = true
	}
	if c.Confirmation != nil {
		p["cnf"] = map[string]any{"jwk": *c.Confirmation}
	}
	if c.Overage {
		p["overage"] = true
	}
	return p
}

// lease signs a lease under d with the given header and payload (maps,
// copied before use, or raw JSON).
func (d testDelegation) lease(t testing.TB, header, payload any) string {
	t.Helper()
	if m, ok := header.(map[string]any); ok {
		header = maps.Clone(m)
	}
	return compact(t, header, payload, func(input []byte) []byte { return ed25519.Sign(d.key, input) })
}
