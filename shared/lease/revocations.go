package lease

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// RevocationsType is a revocation list's JWS "typ".
const RevocationsType = leasejws.RevocationsType

// MaxRevocations is the most session digests one list names (see
// [leasejws.MaxRevocations]).
const MaxRevocations = leasejws.MaxRevocations

// RevocationsLifetime is how long a revocation list is fresh: its "exp" is
// this after its "iat", unless the delegation that signs it ends sooner.
// Clients fetch the list again by then, so an admin's revocation reaches a
// connected client within the hour while the list costs one small request
// an hour per client.
const RevocationsLifetime = time.Hour

// Revocations signs the revocation list of a license: the session digests
// of its revoked sessions, sorted and each once whatever order they come
// in, issued at now (format: sdk/leasejws). It refuses a list of more than
// MaxRevocations distinct digests or of anything that is not a session
// digest, and like Lease refuses once the delegation has expired.
func (s *Signer) Revocations(licenseID string, digests []string, now time.Time) (string, error) {
	if licenseID == "" {
		return "", errors.New("revocation list: no license id")
	}
	for _, d := range digests {
		if !leasejws.IsSessionDigest(d) {
			return "", fmt.Errorf("revocation list: %.40q is not a session digest", d)
		}
	}
	// Sorted into a new slice (the caller's is left as it is), never nil:
	// an empty list is "revoked":[], not null.
	revoked := slices.Compact(slices.Sorted(slices.Values(digests)))
	if revoked == nil {
		revoked = []string{}
	}
	if len(revoked) > MaxRevocations {
		return "", fmt.Errorf("revocation list: %d sessions, more than %d", len(revoked), MaxRevocations)
	}
	s.mu.RLock()
	d := s.current
	s.mu.RUnlock()
	if d == nil || !d.exp.After(now) {
		return "", ErrNoDelegation
	}
	exp := now.Add(RevocationsLifetime)
	if exp.After(d.exp) {
		exp = d.exp
	}
	// Not on the hot path: plain encoding/json, a header made per list.
	header, err := json.Marshal(leaseHeader{Alg: "EdDSA", Typ: RevocationsType, Kid: d.kid, Dlg: d.jws})
	if err != nil {
		return "", fmt.Errorf("encoding revocation list header: %w", err)
	}
	payload, err := json.Marshal(revocationClaims{Iss: s.issuer, LicenseID: licenseID, Revoked: revoked,
		Iat: now.Unix(), Exp: exp.Unix()})
	if err != nil {
		return "", fmt.Errorf("encoding revocation list: %w", err)
	}
	return sign(d, b64.EncodeToString(header), payload), nil
}

// revocationClaims are a revocation list's payload.
type revocationClaims struct {
	Iss       string   `json:"iss"`
	LicenseID string   `json:"license_id"`
	Revoked   []string `json:"revoked"`
	Iat       int64    `json:"iat"`
	Exp       int64    `json:"exp"`
}
