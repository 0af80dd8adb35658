package lease

import (
	"crypto/rsa"
	"fmt"
	"math/big"
)

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
