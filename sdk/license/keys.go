package license

import (
	"crypto/rsa"
	"fmt"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// ParseRootKeys reads root public keys to pin from a JWKS: a saved GET
// /v1/keys document ({"keys":[RSA JWKs with kid]}; the "delegations" older
// servers also listed are ignored) or any {"keys":[…]} of RSA keys of at
// least 2048 bits. Ship the document with the product: keys fetched from the server at
// run time prove nothing about that server.
func ParseRootKeys(jwksJSON []byte) (map[string]*rsa.PublicKey, error) {
	v, err := leasejws.VerifierFromKeys(jwksJSON, "")
	if err != nil {
		return nil, fmt.Errorf("license: root keys: %w", err)
	}
	return v.Roots, nil
}
