package leasejws

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"math/big"
)

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

// rsaFromJWK reads an RSA public JWK (n, e base64url).
func rsaFromJWK(j map[string]string) (*rsa.PublicKey, error) {
	if j["kty"] != "RSA" || j["kid"] == "" {
		return nil, fmt.Errorf("root key is not an RSA JWK with a kid")
	}
	n, err := b64.DecodeString(j["n"])
	if err != nil {
		return nil, fmt.Errorf("root key n: %w", err)
	}
	e, err := b64.DecodeString(j["e"])
	if err != nil || len(e) > 4 {
		return nil, fmt.Errorf("root key e is malformed")
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	if pub.N.BitLen() < 2048 || pub.E < 3 {
		return nil, fmt.Errorf("root key too weak")
	}
	return pub, nil
}
