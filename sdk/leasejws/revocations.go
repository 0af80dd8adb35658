package leasejws

import (
	"crypto/ed25519"
	"fmt"
	"slices"
	"time"
)

// Revocation lists: the sessions of a license an admin revoked, borrowed
// ones above all (a borrowed seat's lease lives offline until it expires,
// so a client that goes online learns of the revocation only from this
// list). Signed like a lease, EdDSA by a delegated key carrying its
// delegation:
//
//	header  {"alg":"EdDSA","typ":"revocations+jwt","kid":<delegated kid>,"dlg":<delegation>}
//	payload {"iss","license_id","revoked":[<session digest>…],"iat","exp"}
//
// "exp" is when a client should fetch the list again (the server's signer
// sets an hour after "iat"); an expired list is refused, not trusted as
// stale. Its "typ" keeps it apart from leases: the same key signs both, and
// neither verifies as the other.

// RevocationsType is a revocation list's JWS "typ".
const RevocationsType = "revocations+jwt"

// MaxRevocations bounds the digests of one list: ten thousand revoked
// sessions of one license, far more than its seats, make a list of about
// 470 KB. A signer splits nothing: past the bound it refuses.
const MaxRevocations = 10_000

// maxRevocationsSize bounds the token VerifyRevocations reads, in bytes: a
// full list with its delegation is under half of it.
const maxRevocationsSize = 1 << 20

// RevocationList is what a revocation list says.
type RevocationList struct {
	Issuer    string
	LicenseID string
	// Revoked are the session digests ([SessionDigest]) of the revoked
	// sessions, sorted, each once.
	Revoked   []string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Has reports whether the list revokes the session whose digest is digest.
func (l RevocationList) Has(digest string) bool {
	_, ok := slices.BinarySearch(l.Revoked, digest)
	return ok
}

// revocationClaims are a revocation list's payload. Revoked is a pointer
// so that a list without "revoked" (or with null) is told from an empty one.
type revocationClaims struct {
	registeredClaims
	License string    `json:"license_id"`
	Revoked *[]string `json:"revoked"`
}

// VerifyRevocations checks a revocation list at time now as Verify checks a
// lease: its delegation signed by a pinned root and valid now, the list
// signed EdDSA by the delegated key, "typ" [RevocationsType], issued within
// the delegation's validity, not expired, from the Verifier's issuer when it
// has one. It must name its license and list at most [MaxRevocations]
// session digests (an empty list is a list: nothing is revoked). Every
// failure matches ErrInvalid.
func (v Verifier) VerifyRevocations(token string, now time.Time) (RevocationList, error) {
	fail := func(format string, args ...any) (RevocationList, error) {
		return RevocationList{}, fmt.Errorf("%w: revocation list: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if len(token) > maxRevocationsSize {
		return fail("%d bytes, more than %d", len(token), maxRevocationsSize)
	}
	var rc revocationClaims
	header, signed, sig, err := parse(token, &rc, "EdDSA")
	if err != nil {
		return fail("%v", err)
	}
	key, dc, err := v.delegatedKey(header, RevocationsType, now)
	if err != nil {
		return fail("%v", err)
	}
	if !ed25519.Verify(key, []byte(signed), sig) {
		return fail("signature is invalid")
	}
	if err := v.validate(rc.registeredClaims, now); err != nil {
		return fail("%v", err)
	}
	iat := rc.IssuedAt
	if iat == nil {
		return fail("iat claim is required")
	}
	if iat.Before(dc.NotBefore.Add(-Leeway)) || iat.After(dc.ExpiresAt.Time) {
		return fail("issued outside its delegation's validity")
	}
	if rc.License == "" || rc.Revoked == nil {
		return fail("names no license or no revoked list")
	}
	if len(*rc.Revoked) > MaxRevocations {
		return fail("%d digests, more than %d", len(*rc.Revoked), MaxRevocations)
	}
	for _, d := range *rc.Revoked {
		if !IsSessionDigest(d) {
			return fail("%.40q is not a session digest", d)
		}
	}
	// Sorted here, whoever signed it, so that Has can search.
	revoked := slices.Compact(slices.Sorted(slices.Values(*rc.Revoked)))
	return RevocationList{Issuer: rc.Issuer, LicenseID: rc.License, Revoked: revoked,
		IssuedAt: iat.Time, ExpiresAt: rc.ExpiresAt.Time}, nil
}

// IsSessionDigest reports whether s has the form of a [SessionDigest]: 32
// lowercase hex characters.
func IsSessionDigest(s string) bool {
	if len(s) != 2*SessionDigestBytes {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
