package lease

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Leeway is the clock skew tolerated between server and client.
const Leeway = 30 * time.Second

// Verifier checks leases against pinned root public keys (kid → key).
type Verifier struct {
	Roots  map[string]*rsa.PublicKey
	Issuer string // when set, leases and delegations must carry it
}

type delegationClaims struct {
	jwt.RegisteredClaims
	JWK okpJWK `json:"jwk"`
}

type leaseClaims struct {
	jwt.RegisteredClaims
	License     string `json:"lic"`
	Tenant      string `json:"ten"`
	Fingerprint string `json:"fpr"`
}

// Verify checks a lease at time now: the delegation in its "dlg" header
// must be signed RS256 by a pinned root key and valid now; the lease must be
// signed EdDSA by the delegated key, issued within the delegation's
// validity, and not expired.
func (v Verifier) Verify(token string, now time.Time) (Claims, error) {
	fail := func(format string, args ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	var dlgClaims delegationClaims
	var delegatedKey ed25519.PublicKey
	// Strict base64: the last character of a signature has spare bits, and
	// a lenient decoder would let 15 other spellings of every lease verify.
	opts := []jwt.ParserOption{jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithStrictDecoding()}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}

	var lc leaseClaims
	parsed, err := jwt.ParseWithClaims(token, &lc, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != Type {
			return nil, fmt.Errorf("typ is not %s", Type)
		}
		dlg, ok := t.Header["dlg"].(string)
		if !ok || dlg == "" {
			return nil, fmt.Errorf("no delegation")
		}
		_, err := jwt.ParseWithClaims(dlg, &dlgClaims, func(d *jwt.Token) (any, error) {
			kid, _ := d.Header["kid"].(string)
			key, ok := v.Roots[kid]
			if !ok {
				return nil, fmt.Errorf("delegation not signed by a pinned root key (kid %q)", kid)
			}
			return key, nil
		}, append(opts, jwt.WithValidMethods([]string{"RS256"}))...)
		if err != nil {
			return nil, fmt.Errorf("delegation: %w", err)
		}
		k := dlgClaims.JWK
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			return nil, fmt.Errorf("delegated key is not Ed25519")
		}
		raw, err := b64.DecodeString(k.X)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("delegated key is malformed")
		}
		delegatedKey = raw
		if want := okpKey(delegatedKey).Kid; k.Kid != want || dlgClaims.Subject != want || t.Header["kid"] != want {
			return nil, fmt.Errorf("lease kid, delegation subject and key thumbprint disagree")
		}
		return delegatedKey, nil
	}, append(opts, jwt.WithValidMethods([]string{"EdDSA"}))...)
	if err != nil || !parsed.Valid {
		return fail("%v", err)
	}
	iat := lc.IssuedAt
	if iat == nil || dlgClaims.NotBefore == nil || dlgClaims.ExpiresAt == nil {
		return fail("missing times")
	}
	if iat.Before(dlgClaims.NotBefore.Add(-Leeway)) || iat.After(dlgClaims.ExpiresAt.Time) {
		return fail("lease issued outside its delegation's validity")
	}
	if lc.Subject == "" || lc.License == "" {
		return fail("lease names no session or license")
	}
	return Claims{Issuer: lc.Issuer, SessionID: lc.Subject, LicenseID: lc.License, TenantID: lc.Tenant,
		Fingerprint: lc.Fingerprint, IssuedAt: iat.Time, ExpiresAt: lc.ExpiresAt.Time}, nil
}

// Keys is the document GET /v1/keys serves.
type Keys struct {
	Keys        []map[string]string `json:"keys"`
	Delegations []string            `json:"delegations"`
}

// VerifierFromKeys pins the root keys of a /v1/keys document. A client
// should pin keys it obtained out of band (shipped with the product); this
// helper is for the first fetch and for tests.
func VerifierFromKeys(doc []byte, issuer string) (Verifier, error) {
	var k Keys
	if err := json.Unmarshal(doc, &k); err != nil {
		return Verifier{}, fmt.Errorf("reading keys: %w", err)
	}
	roots := map[string]*rsa.PublicKey{}
	for _, j := range k.Keys {
		pub, err := rsaFromJWK(j)
		if err != nil {
			return Verifier{}, err
		}
		roots[j["kid"]] = pub
	}
	if len(roots) == 0 {
		return Verifier{}, fmt.Errorf("no root keys")
	}
	return Verifier{Roots: roots, Issuer: issuer}, nil
}
