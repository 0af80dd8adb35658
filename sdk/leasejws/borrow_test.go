package leasejws

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// borrowLease is a borrow lease as the server signs one: the lease's
// payload under the header {"alg":"RS256","typ":Type,"kid":<r's kid>},
// signed by r itself. change, when set, edits the header first.
func (r *testRoot) borrowLease(t testing.TB, payload any, change func(header map[string]any)) string {
	t.Helper()
	header := map[string]any{"alg": "RS256", "typ": Type, "kid": r.kid}
	if change != nil {
		change(header)
	}
	return compact(t, header, payload, r.sign(t))
}

// borrowClaims are a week's borrow from now under a new device key.
func borrowClaims(t *testing.T) Claims {
	t.Helper()
	_, jwk, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	c := claims
	c.Borrow, c.Confirmation, c.ExpiresAt = true, &jwk, now.Add(7*24*time.Hour)
	return c
}

// TestVerifyBorrow: a week's borrow lease the root signed verifies offline
// for the whole week with no delegation anywhere, and not a moment past its
// exp; one running exactly MaxBorrow verifies too. Verify, which takes
// only leases delegated keys sign, refuses it.
func TestVerifyBorrow(t *testing.T) {
	t.Parallel()
	root, _ := testRoots(t)
	c := borrowClaims(t)
	tok := root.borrowLease(t, leasePayload(c), nil)

	for _, at := range []time.Time{now, now.Add(2 * time.Hour), now.Add(6 * 24 * time.Hour), c.ExpiresAt.Add(Leeway - time.Second)} {
		got, err := root.verifier().VerifyBorrow(tok, at)
		if err != nil {
			t.Fatalf("VerifyBorrow at %s: %v", at, err)
		}
		if !got.Borrow || got.Confirmation == nil || *got.Confirmation != *c.Confirmation || !got.ExpiresAt.Equal(c.ExpiresAt) ||
			!got.IssuedAt.Equal(c.IssuedAt) || got.Issuer != "https://api.test" || got.SessionDigest != "sess" ||
			got.LicenseID != "lic" || got.TenantID != "ten" || got.Fingerprint != "fp" {
			t.Fatalf("claims = %+v", got)
		}
	}
	if _, err := root.verifier().VerifyBorrow(tok, c.ExpiresAt.Add(Leeway)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("VerifyBorrow past exp = %v, want ErrInvalid", err)
	}
	if got, err := root.verifier().Verify(tok, now); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `"RS256"`) {
		t.Fatalf("Verify of a root-signed borrow lease = %+v, %v; want ErrInvalid for its alg", got, err)
	}

	longest := c
	longest.ExpiresAt = c.IssuedAt.Add(MaxBorrow)
	if _, err := root.verifier().VerifyBorrow(root.borrowLease(t, leasePayload(longest), nil), now); err != nil {
		t.Fatalf("a borrow of exactly MaxBorrow: %v", err)
	}
}

// TestVerifyBorrowRejects: every borrow lease that is not a borrow of a
// session and license, bound to a device key, signed by a pinned root as a
// lease and valid now, is refused; above all one a delegated key signed,
// now or back-dated into its delegation's day (the forgery a stolen
// delegated key would allow).
func TestVerifyBorrowRejects(t *testing.T) {
	t.Parallel()
	root, other := testRoots(t)
	borrow := borrowClaims(t)
	payload := func(change func(p map[string]any)) map[string]any {
		p := leasePayload(borrow)
		change(p)
		return p
	}
	for _, c := range []struct {
		name string
		tok  func(t *testing.T) string
	}{
		{"not a borrow lease", func(t *testing.T) string {
			c := claims
			c.ExpiresAt = borrow.ExpiresAt
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"borrow without cnf", func(t *testing.T) string {
			c := borrow
			c.Confirmation = nil
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"cnf without borrow", func(t *testing.T) string {
			c := borrow
			c.Borrow = false
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"borrow false", func(t *testing.T) string {
			return root.borrowLease(t, payload(func(p map[string]any) { p["borrow"] = false }), nil)
		}},
		{"borrow a string", func(t *testing.T) string {
			return root.borrowLease(t, payload(func(p map[string]any) { p["borrow"] = "true" }), nil)
		}},
		{"cnf null", func(t *testing.T) string {
			return root.borrowLease(t, payload(func(p map[string]any) { p["cnf"] = nil }), nil)
		}},
		{"cnf not Ed25519", func(t *testing.T) string {
			k := *borrow.Confirmation
			k.Crv = "X25519"
			return root.borrowLease(t, payload(func(p map[string]any) { p["cnf"] = map[string]any{"jwk": k} }), nil)
		}},
		{"runs longer than MaxBorrow", func(t *testing.T) string {
			c := borrow
			c.ExpiresAt = c.IssuedAt.Add(MaxBorrow + time.Second)
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"issued in the future", func(t *testing.T) string {
			c := borrow
			c.IssuedAt = now.Add(Leeway + time.Second)
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"not valid yet", func(t *testing.T) string {
			return root.borrowLease(t, payload(func(p map[string]any) { p["nbf"] = now.Add(time.Hour).Unix() }), nil)
		}},
		{"no iat", func(t *testing.T) string {
			return root.borrowLease(t, payload(func(p map[string]any) { delete(p, "iat") }), nil)
		}},
		{"no exp", func(t *testing.T) string {
			return root.borrowLease(t, payload(func(p map[string]any) { delete(p, "exp") }), nil)
		}},
		{"expired", func(t *testing.T) string {
			c := borrow
			c.ExpiresAt = now.Add(-Leeway)
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"other issuer", func(t *testing.T) string {
			c := borrow
			c.Issuer = "https://evil.test"
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"no issuer", func(t *testing.T) string {
			return root.borrowLease(t, payload(func(p map[string]any) { delete(p, "iss") }), nil)
		}},
		{"no license", func(t *testing.T) string {
			c := borrow
			c.LicenseID = ""
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"no session", func(t *testing.T) string {
			c := borrow
			c.SessionDigest = ""
			return root.borrowLease(t, leasePayload(c), nil)
		}},
		{"signed by an unpinned root", func(t *testing.T) string {
			return other.borrowLease(t, leasePayload(borrow), nil)
		}},
		{"signed by an unpinned root under the pinned kid", func(t *testing.T) string {
			return other.borrowLease(t, leasePayload(borrow), func(h map[string]any) { h["kid"] = root.kid })
		}},
		{"no kid", func(t *testing.T) string {
			return root.borrowLease(t, leasePayload(borrow), func(h map[string]any) { delete(h, "kid") })
		}},
		{"tampered payload", func(t *testing.T) string {
			tok := root.borrowLease(t, leasePayload(borrow), nil)
			parts := strings.Split(tok, ".")
			p, err := json.Marshal(payload(func(p map[string]any) { p["exp"] = borrow.ExpiresAt.Add(time.Hour).Unix() }))
			if err != nil {
				t.Fatal(err)
			}
			return parts[0] + "." + b64.EncodeToString(p) + "." + parts[2]
		}},
		{"typed as a certificate", func(t *testing.T) string {
			return root.borrowLease(t, leasePayload(borrow), func(h map[string]any) { h["typ"] = CertificateType })
		}},
		{"typed as a delegation", func(t *testing.T) string {
			return root.borrowLease(t, leasePayload(borrow), func(h map[string]any) { h["typ"] = DelegationType })
		}},
		{"typed as a revocation list", func(t *testing.T) string {
			return root.borrowLease(t, leasePayload(borrow), func(h map[string]any) { h["typ"] = RevocationsType })
		}},
		{"no typ", func(t *testing.T) string {
			return root.borrowLease(t, leasePayload(borrow), func(h map[string]any) { delete(h, "typ") })
		}},
		{"alg RS512", func(t *testing.T) string {
			return root.borrowLease(t, leasePayload(borrow), func(h map[string]any) { h["alg"] = "RS512" })
		}},
		{"signed by a delegated key", func(t *testing.T) string {
			d := root.delegate(t, now.Add(-time.Minute), now.Add(time.Hour), nil)
			return d.lease(t, d.header(), leasePayload(borrow))
		}},
		{"signed by a delegated key, back-dated into its delegation", func(t *testing.T) string {
			// What VerifyBorrow once took: the chain checked at iat, so a
			// key stolen from a day that has ended signs 90 days' borrow.
			d := root.delegate(t, now.Add(-26*time.Hour), now.Add(-2*time.Hour), nil)
			c := borrow
			c.IssuedAt, c.ExpiresAt = now.Add(-3*time.Hour), now.Add(-3*time.Hour).Add(MaxBorrow)
			return d.lease(t, d.header(), leasePayload(c))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got, err := root.verifier().VerifyBorrow(c.tok(t), now); !errors.Is(err, ErrInvalid) {
				t.Fatalf("VerifyBorrow = %+v, %v; want ErrInvalid", got, err)
			}
		})
	}
}
