package lease

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// CertificateType is a license certificate's JWS "typ".
const CertificateType = leasejws.CertificateType

// MaxCertificateValidity is the longest a certificate is valid, whether or
// not its license expires sooner (sdk/leasejws refuses one valid longer): a
// certificate kept offline outlives a suspension of its license or tenant by
// at most this. Clients fetch a new one before it runs out.
const MaxCertificateValidity = leasejws.MaxCertificateValidity

// reissueAfter is the age after which a cached certificate is signed again,
// so one handed out is always valid for at least half the maximum (unless
// its license expires sooner).
const reissueAfter = MaxCertificateValidity / 2

// License is what a license certificate states: the license as stored,
// passed as a plain value (the license store sits above this package).
type License struct {
	ID              string
	TenantID        string
	Product         string
	Seats           int
	LeaseTTLSeconds int
	Status          string
	ExpiresAt       *time.Time
	RequireUser     bool
	MaxSeatsPerUser *int
	Leasing         string
	// TenantStatus is the status of the license's tenant: a certificate
	// states it, so an offline check refuses a suspended tenant too.
	TenantStatus string
	// UpdatedAt is the license's version: its certificate is signed again
	// only once it (or TenantStatus) changes, or the cached one is old.
	UpdatedAt time.Time
	// Fingerprint, when set, binds the certificate to one machine (claim
	// "fpr", as a lease names its workstation): node-locked offline use.
	Fingerprint string
}

// Certifier signs license certificates directly with the root key: offline
// proof of what a license entitles, off the acquire path. Certificates are
// cached per license and re-issued after any change to it. Ready once Root
// and Issuer are set; safe for concurrent use.
type Certifier struct {
	Root   rootkey.Root
	Issuer string
	// Now is the clock certificates are dated by (nil: time.Now).
	Now func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	version      time.Time // the license's UpdatedAt when signed
	tenantStatus string
	issued       time.Time
	jws          string
}

// Certificate returns the license's certificate, a compact JWS (RS256,
// typ license+jwt, kid the root's; the format is sdk/leasejws's), signing a
// new one only when the license or its tenant's status changed since the
// cached one, or the cached one is half-way through its validity. A
// certificate bound to a machine (l.Fingerprint) is signed on every call
// and not cached: one is asked for once per machine, and a cache keyed by
// machine would grow with every machine ever certified.
func (c *Certifier) Certificate(ctx context.Context, l License) (string, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	bound := l.Fingerprint != ""
	c.mu.Lock()
	hit, ok := c.cache[l.ID]
	c.mu.Unlock()
	if !bound && ok && hit.version.Equal(l.UpdatedAt) && hit.tenantStatus == l.TenantStatus && now.Sub(hit.issued) < reissueAfter {
		return hit.jws, nil
	}
	keys, err := c.Root.PublicKeys(ctx)
	if err != nil || len(keys) == 0 {
		return "", fmt.Errorf("reading root keys: %w", err)
	}
	// Every certificate expires, a license without expiry's too: what it
	// states (the license's and the tenant's status above all) may change,
	// and a copy in the field must stop vouching for it within a bound.
	exp := now.Add(MaxCertificateValidity)
	claims := jwt.MapClaims{
		"iss": c.Issuer, "sub": l.ID, "ten": l.TenantID, "prd": l.Product, "seats": l.Seats,
		"lease_ttl_seconds": l.LeaseTTLSeconds, "status": l.Status, "tenant_status": l.TenantStatus,
		"iat":    now.Unix(),
		"policy": map[string]any{"require_user": l.RequireUser, "max_seats_per_user": l.MaxSeatsPerUser, "leasing": l.Leasing},
	}
	if bound {
		claims["fpr"] = l.Fingerprint
	}
	if l.ExpiresAt != nil {
		claims["license_exp"] = l.ExpiresAt.Unix()
		if l.ExpiresAt.Before(exp) {
			exp = *l.ExpiresAt
		}
	}
	claims["exp"] = exp.Unix()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["typ"] = CertificateType
	t.Header["kid"] = keys[0].KID
	input, err := t.SigningString()
	if err != nil {
		return "", err
	}
	kid, sig, err := c.Root.Sign(ctx, []byte(input))
	if err != nil {
		return "", fmt.Errorf("root signing the certificate: %w", err)
	}
	if kid != keys[0].KID {
		return "", fmt.Errorf("root signed with %s, not the current %s", kid, keys[0].KID)
	}
	out := input + "." + b64.EncodeToString(sig)
	if bound {
		return out, nil
	}
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]cached{}
	}
	c.cache[l.ID] = cached{version: l.UpdatedAt, tenantStatus: l.TenantStatus, issued: now, jws: out}
	c.mu.Unlock()
	return out, nil
}
