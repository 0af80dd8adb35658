package licenses

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// CertificateType is a license certificate's JWS "typ".
const CertificateType = "license+jwt"

// Certifier signs license certificates directly with the root key: offline
// proof of what a license entitles, off the acquire path. Certificates are
// cached per license and re-issued after any change to it.
type Certifier struct {
	Root   rootkey.Root
	Issuer string

	mu    *sync.Mutex
	cache map[string]cached
}

type cached struct {
	version time.Time // the license's updated_at when signed
	jws     string
}

func (c *Certifier) init() {
	if c.mu == nil {
		c.mu = &sync.Mutex{}
		c.cache = map[string]cached{}
	}
}

// certificate returns the license's certificate, signing a new one only when
// the license changed since the cached one.
func (c *Certifier) certificate(ctx context.Context, l licenses.License) (string, error) {
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
	out := input + "." + base64.RawURLEncoding.EncodeToString(sig)
	c.mu.Lock()
	c.cache[l.ID] = cached{version: l.UpdatedAt, jws: out}
	c.mu.Unlock()
	return out, nil
}

func (h *handler) certificate(w http.ResponseWriter, r *http.Request) {
	tenantID, licenseID, err := ids(r, auth.Admin)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	l, err := h.store.Get(r.Context(), tenantID, licenseID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cert, err := h.certs.certificate(r.Context(), l)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"certificate": cert})
}
