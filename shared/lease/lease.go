// Package lease signs leases: offline proof that a seat came from this
// service.
//
// The root RSA-4096 key (shared/rootkey; Cloud KMS in production) never
// signs on the acquire path. Each instance makes an Ed25519 key at start and
// has the root sign a delegation for it (a compact JWS, RS256, typ
// dlg+jwt, valid at most 24 h, renewed in the background). Leases are
// compact JWS signed EdDSA by the delegated key and carry the delegation in
// their "dlg" header, so a client needs only the root public key to verify
// them. Revocation lists (Signer.Revocations, typ revocations+jwt) are
// signed the same way: the sessions of a license an admin revoked, fresh
// for an hour.
//
// A borrow lease (Claims.Borrow; BorrowSigner) also names the client's
// device key in "cnf" (RFC 7800) and is signed RS256 by the root itself,
// like a license certificate (Certifier): it lives offline for weeks, past
// any delegation, and a delegated key stolen from an instance must not be
// able to forge one. Borrows are rare, so one root signature each is
// affordable.
//
// The format and its verification are sdk/leasejws, the package clients
// use too; the names below that stand for it are kept for the server's code.
package lease

import (
	"encoding/base64"
	"errors"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// Type is the lease's JWS "typ".
const Type = leasejws.Type

// MaxDelegation is the longest a delegation may live (exp less nbf):
// every verifier refuses a longer one.
const MaxDelegation = leasejws.MaxDelegation

// Errors.
var (
	// ErrInvalid: the lease (or its delegation) does not verify.
	ErrInvalid = leasejws.ErrInvalid
	// ErrNoDelegation: the instance has no unexpired delegation to sign with.
	ErrNoDelegation = errors.New("no valid delegation")
)

// Claims are what a lease says.
type Claims = leasejws.Claims

// Verifier checks leases against pinned root public keys.
type Verifier = leasejws.Verifier

// Keys is the document GET /v1/keys serves.
type Keys = leasejws.Keys

// VerifierFromKeys pins the root keys of a /v1/keys document: see
// [leasejws.VerifierFromKeys].
func VerifierFromKeys(doc []byte, issuer string) (Verifier, error) {
	return leasejws.VerifierFromKeys(doc, issuer)
}

var b64 = base64.RawURLEncoding
