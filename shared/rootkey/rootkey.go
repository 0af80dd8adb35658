// Package rootkey is the root of trust leases are signed under: an RSA-4096
// key whose private half never leaves Cloud KMS in production (or a local key
// for `make run` and tests). It signs rarely — each instance's delegation,
// and license certificates — never on the acquire path.
package rootkey

import (
	"context"
	"crypto/rsa"
)

// PublicKey is one root key version clients may trust.
type PublicKey struct {
	// KID is the key's RFC 7638 JWK thumbprint (base64url, SHA-256), so it
	// is the same whichever backend holds the key.
	KID string
	Key *rsa.PublicKey
}

// Root signs with the current root key version and lists every version
// clients should still trust (so the root can rotate without breaking them).
type Root interface {
	// Sign returns an RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signature of
	// signingInput by the current version, and that version's KID.
	Sign(ctx context.Context, signingInput []byte) (kid string, signature []byte, err error)
	PublicKeyLister
}

// PublicKeyLister is the public half of a Root: all that code publishing
// the keys needs (Cloud KMS's publicKeyViewer role, not its signer role).
type PublicKeyLister interface {
	// PublicKeys lists the trusted versions, the signing one first.
	PublicKeys(ctx context.Context) ([]PublicKey, error)
}
