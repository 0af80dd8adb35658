// Package leasejws is the published wire format of the Coditect license
// service's leases and delegations, and their verification: what a client
// needs to check a lease offline with nothing but the service's root public
// keys. It imports only the Go standard library, so that the client SDK
// (sdk/license) and any application can use it without the server; the
// server signs in this format (shared/lease) and verifies with this package.
//
// The root RSA-4096 key never signs an ordinary lease itself. Each server
// instance makes an Ed25519 key and has the root sign a delegation for it
// (a compact JWS, RS256); leases are compact JWS signed EdDSA by the
// delegated key and carry the delegation in their "dlg" header:
//
//	delegation  header {"alg":"RS256","kid":<root kid>,"typ":"dlg+jwt"}
//	            payload {"iss","sub":<delegated kid>,"jwk":<OKP JWK with kid>,"iat","nbf","exp"}
//	lease       header {"alg":"EdDSA","typ":"lease+jwt","kid":<delegated kid>,"dlg":<delegation>}
//	            payload {"iss","sub":<session digest>,"lic","ten","fpr","iat","exp"}
//
// A borrow lease (a seat checked out for offline use, for days or weeks)
// is the one lease the root signs itself, as it signs license
// certificates, so that it stands without a delegation and no stolen
// delegated key can forge one:
//
//	borrow lease  header {"alg":"RS256","typ":"lease+jwt","kid":<root kid>}
//	              payload {"iss","sub":<session digest>,"lic","ten","fpr","iat","exp","borrow":true,"cnf"}
//
// It says "borrow": true and is bound to the Ed25519 key the client made
// for the borrow (a device key, [NewDeviceKey]) by "cnf": {"jwk": <OKP
// JWK>} (RFC 7800); any other "cnf" makes the lease invalid. Its "exp" is
// the borrow's end, at most [MaxBorrow] after its "iat". A client holding
// one offline checks it with [Verifier.VerifyBorrow]; [Verifier.Verify]
// refuses it (and VerifyBorrow any lease a delegated key signed), so
// neither kind passes for the other. The borrow is given back early only
// with a return proof signed by that device key ([SignReturnProof],
// [VerifyReturnProof]):
//
//	return proof  header {"alg":"EdDSA","typ":"return+jwt"}
//	              payload {"session_id","iat"}
//
// An admin's revocation of sessions (borrowed ones above all, whose leases
// live offline) is published as a revocation list, signed like a lease but
// typed apart, so that neither verifies as the other
// ([Verifier.VerifyRevocations]):
//
//	revocations header {"alg":"EdDSA","typ":"revocations+jwt","kid":<delegated kid>,"dlg":<delegation>}
//	            payload {"iss","license_id","revoked":[<session digest>…],"iat","exp"}
//
// A lease names its session by [SessionDigest], never by the session id: the
// id is the bearer credential that heartbeats and releases the seat, and a
// lease is an artefact meant to be handed to offline checks.
//
// A delegation must say it is one: its "typ" is [DelegationType], which
// nothing else the root signs carries (license certificates are
// "license+jwt", borrow leases "lease+jwt"), so no other root-signed token
// can stand in for a delegation. It must also bound itself: "nbf" and "exp" are required and
// at most [MaxDelegation] apart, so a delegation signed by mistake or by
// someone who briefly held the root's signing permission cannot vouch for
// a key for longer than a day. (Servers before this rule wrote "typ":"JWT"
// and verifiers before it ignored a delegation's "typ" altogether.)
//
// GET /v1/keys publishes the root keys, RSA JWKs whose kid is their RFC 7638
// thumbprint ([Keys]); delegated keys are Ed25519 OKP JWKs (RFC 8037) whose
// kid is their RFC 7638 thumbprint too ([NewOKPKey]). Delegations are not
// published: each ordinary lease carries its own.
//
// License certificates (typ license+jwt) are signed RS256 by the root key
// itself and state what a license entitles, its status and its tenant's;
// [Verifier.VerifyCertificate] checks one offline and refuses a suspended
// license or tenant ([ErrInactive]). Each is valid at most
// [MaxCertificateValidity].
package leasejws

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"time"
)

// Type is the lease's JWS "typ".
const Type = "lease+jwt"

// DelegationType is the delegation's JWS "typ".
const DelegationType = "dlg+jwt"

// MaxDelegation is the longest a delegation may live: its "exp" less its
// "nbf", with no leeway (both come from the one clock that signed it).
const MaxDelegation = 24 * time.Hour

// ErrInvalid: the lease (or its delegation) does not verify.
var ErrInvalid = errors.New("invalid lease")

// Claims are what a lease says.
type Claims struct {
	Issuer string
	// SessionDigest names the session ("sub"): SessionDigest of its id.
	SessionDigest string
	LicenseID     string
	TenantID      string
	Fingerprint   string
	IssuedAt      time.Time
	ExpiresAt     time.Time
	// Borrow marks a borrow lease ("borrow": true): a seat checked out for
	// offline use, held until the lease expires or is returned.
	Borrow bool
	// Overage marks a seat held beyond the license's seats under its
	// overage policy ("overage": true, left out when false): the vendor
	// may bill it. It says the class when the lease was signed; the next
	// heartbeat's lease says it again (an overage seat becomes entitled
	// when an older one frees).
	Overage bool
	// Confirmation is the device key the lease is bound to ("cnf":
	// {"jwk": …}, RFC 7800), nil when it names none. Only the holder of
	// its private half can prove it holds the lease (a return proof).
	Confirmation *OKPKey
}

// Keys is the document GET /v1/keys serves: the root public keys as RSA
// JWKs with their kid. (Servers before this version also listed their
// delegations; readers ignore that member.)
type Keys struct {
	Keys []map[string]string `json:"keys"`
}

// OKPKey is an Ed25519 public key as a JWK (RFC 8037): the "jwk" a
// delegation vouches for.
type OKPKey struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid,omitempty"`
}

// SessionDigest is how a lease, the server's Redis and its ledger name a
// session: the first 128 bits of the SHA-256 of the session id, in lowercase
// hex. It is unkeyed on purpose: the id carries 128 random bits, so the
// digest cannot be reversed or guessed, and a holder of the id (the SDK) can
// check that a lease is its own without any key. 128 bits keep preimages out
// of reach; collisions would need 2^64 sessions of one license.
func SessionDigest(sessionID string) string {
	sum := sha256.Sum256([]byte(sessionID))
	return hex.EncodeToString(sum[:SessionDigestBytes])
}

// SessionDigestBytes is the length of a session digest before hex encoding.
const SessionDigestBytes = 16

// b64 is the base64url without padding of JOSE (lenient about the unused
// bits of the last character; segments are decoded strictly).
var b64 = base64.RawURLEncoding

// NewOKPKey returns pub as a JWK with its RFC 7638 thumbprint as kid.
func NewOKPKey(pub ed25519.PublicKey) OKPKey {
	x := b64.EncodeToString(pub)
	return OKPKey{Kty: "OKP", Crv: "Ed25519", X: x, Kid: thumbprint(x)}
}
