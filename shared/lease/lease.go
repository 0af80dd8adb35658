// Package lease signs and verifies leases: offline proof that a seat came
// from this service.
//
// The root RSA-4096 key (shared/rootkey; Cloud KMS in production) never
// signs on the acquire path. Each instance makes an Ed25519 key at start and
// has the root sign a delegation for it (a compact JWS, RS256, valid at most
// 24 h, renewed in the background). Leases are compact JWS signed EdDSA by
// the delegated key and carry the delegation in their "dlg" header, so a
// client needs only the root public key to verify them:
//
//	delegation  header {"alg":"RS256","kid":<root kid>,"typ":"JWT"}
//	            payload {"iss","sub":<delegated kid>,"jwk":<OKP JWK with kid>,"iat","nbf","exp"}
//	lease       header {"alg":"EdDSA","typ":"lease+jwt","kid":<delegated kid>,"dlg":<delegation>}
//	            payload {"iss","sub":<session id>,"lic","ten","fpr","iat","exp"}
package lease

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"
)

// Type is the lease's JWS "typ".
const Type = "lease+jwt"

// MaxDelegation is the longest a delegation may live.
const MaxDelegation = 24 * time.Hour

// Errors.
var (
	// ErrInvalid: the lease (or its delegation) does not verify.
	ErrInvalid = errors.New("invalid lease")
	// ErrNoDelegation: the instance has no unexpired delegation to sign with.
	ErrNoDelegation = errors.New("no valid delegation")
)

// Claims are what a lease says.
type Claims struct {
	Issuer      string
	SessionID   string
	LicenseID   string
	TenantID    string
	Fingerprint string
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// okpJWK is an Ed25519 public key as a JWK (RFC 8037).
type okpJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
}

var b64 = base64.RawURLEncoding

// okpKey makes the JWK of pub with its RFC 7638 thumbprint as kid.
func okpKey(pub ed25519.PublicKey) okpJWK {
	x := b64.EncodeToString(pub)
	// RFC 7638: the required members, lexicographic order, no whitespace.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return okpJWK{Kty: "OKP", Crv: "Ed25519", X: x, Kid: b64.EncodeToString(sum[:])}
}
