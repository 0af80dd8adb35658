package rootkey

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
)

// Thumbprint returns the RFC 7638 JWK thumbprint of pub: the unpadded
// base64url SHA-256 of {"e":…,"kty":"RSA","n":…}, members in lexicographic
// order, n and e as minimal big-endian base64url. It is the KID of pub
// whichever backend holds the private half.
func Thumbprint(pub *rsa.PublicKey) string {
	n, e := jwkNE(pub)
	// base64url text needs no JSON escaping, so the canonical form can be
	// written directly; RFC 7638 section 3.3 forbids any whitespace in it.
	sum := sha256.Sum256([]byte(`{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// JWK returns pub as a JSON Web Key (RFC 7517) for a JWKS document, with its
// thumbprint as "kid" and RS256 as its only use.
func JWK(pub *rsa.PublicKey) map[string]string {
	n, e := jwkNE(pub)
	return map[string]string{
		"kty": "RSA",
		"kid": Thumbprint(pub),
		"alg": "RS256",
		"use": "sig",
		"n":   n,
		"e":   e,
	}
}

// jwkNE encodes pub's modulus and exponent as RFC 7518 section 6.3.1 asks:
// unsigned big-endian with no leading zero bytes, base64url without padding.
func jwkNE(pub *rsa.PublicKey) (n, e string) {
	n = base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
	e = base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	return n, e
}
