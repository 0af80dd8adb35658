package lease

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/shared/rootkey"
)

// CertificateType is a license certificate's JWS "typ".
const CertificateType = "license+jwt"

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
	// UpdatedAt is the license's version: its certificate is signed again
	// only once it changes.
	UpdatedAt time.Time
}

// Certifier signs license certificates directly with the root key: offline
// proof of what a license entitles, off the acquire path. Certificates are
// cached per license and re-issued after any change to it. Ready once Root
// and Issuer are set; safe for concurrent use.
type Certifier struct {
	Root   rootkey.Root
	Issuer string

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	version time.Time // the license's UpdatedAt when signed
	jws     string
}

// Certificate returns the license's certificate, a compact JWS (RS256,
// typ license+jwt, kid the root's), signing a new one only when the license
// changed since the cached one.
func (c *Certifier) Certificate(ctx context.Context, l License) (string, error) {
	c.mu.Lock()
	hit, ok := c.cache[l.ID]
	c.mu.Unlock()
	if ok && hit.version.Equal(l.UpdatedAt) {
		return hit.jws, nil
	}
	keys, err := c.Root.PublicKeys(ctx)
	if err != nil || len(keys) == 0 {
		return "", fmt.Errorf("reading root keys: %w", err)
	}
	claims := jwt.MapClaims{
		"iss": c.Issuer, "sub": l.ID, "ten": l.TenantID, "prd": l.Product, "seats": l.Seats,
		"lease_ttl_seconds": l.LeaseTTLSeconds, "status": l.Status, "iat": time.Now().Unix(),
		"policy": map[string]any{"require_user": l.RequireUser, "max_seats_per_user": l.MaxSeatsPerUser, "leasing": l.Leasing},
	}
	if l.ExpiresAt != nil {
		claims["exp"] = l.ExpiresAt.Unix()
	}
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
	c.mu.Lock()
	if c.cache == nil {
		c.cache = map[string]cached{}
	}
	c.cache[l.ID] = cached{version: l.UpdatedAt, jws: out}
	c.mu.Unlock()
	return out, nil
}
