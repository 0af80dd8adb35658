package leasejws

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// License certificates: offline proof of what a license entitles, signed by
// the root key itself (no delegation), issued by POST
// /v1/tenants/{tenant_id}/licenses/{license_id}/certificate:
//
//	header  {"alg":"RS256","kid":<root kid>,"typ":"license+jwt"}
//	payload {"iss","sub":<license id>,"ten","prd","seats","lease_ttl_seconds",
//	         "status","tenant_status","policy","iat","exp"[,"license_exp"][,"fpr"]}
//
// "fpr", when present, binds the certificate to one machine's fingerprint
// (as a lease names its workstation): VerifyCertificateFor refuses it on any
// other machine.
//
// "exp" is at most MaxCertificateValidity after "iat", whatever the
// license's own expiry ("license_exp", when it has one, and then "exp" is
// no later): a certificate says what was true when it was issued, so a
// suspension reaches every copy in the field within that bound. Fetch a new
// certificate before the old one expires.

// CertificateType is a license certificate's JWS "typ".
const CertificateType = "license+jwt"

// MaxCertificateValidity is the longest a license certificate is valid:
// the longest a copy kept offline can outlive a suspension of its license
// or tenant.
const MaxCertificateValidity = 30 * 24 * time.Hour

// ErrInactive: the certificate is genuine but states a license or tenant
// that is not active (suspended or deleted) when it was issued.
var ErrInactive = errors.New("license or tenant not active")

// ErrOtherMachine: the certificate is bound to another machine's
// fingerprint. It also matches ErrInvalid.
var ErrOtherMachine = errors.New("certificate bound to another machine")

// Certificate is what a license certificate states.
type Certificate struct {
	Issuer          string
	LicenseID       string
	TenantID        string
	Product         string
	Seats           int
	LeaseTTLSeconds int
	Status          string // the license's: active, suspended or deleted
	TenantStatus    string // the tenant's: active or suspended
	// LicenseExpiresAt is the license's own expiry, zero when it has none.
	LicenseExpiresAt time.Time
	RequireUser      bool
	MaxSeatsPerUser  int // 0: no limit
	Leasing          string
	IssuedAt         time.Time
	ExpiresAt        time.Time
	// Fingerprint is the machine the certificate is bound to; "" when it
	// is not bound (valid on any machine).
	Fingerprint string
}

// certificateClaims are a certificate's payload.
type certificateClaims struct {
	registeredClaims
	Tenant          string       `json:"ten"`
	Product         string       `json:"prd"`
	Seats           int          `json:"seats"`
	LeaseTTLSeconds int          `json:"lease_ttl_seconds"`
	Status          string       `json:"status"`
	TenantStatus    string       `json:"tenant_status"`
	LicenseExpires  *numericDate `json:"license_exp,omitempty"`
	Fingerprint     string       `json:"fpr,omitempty"`
	Policy          struct {
		RequireUser     bool   `json:"require_user"`
		MaxSeatsPerUser *int   `json:"max_seats_per_user"`
		Leasing         string `json:"leasing"`
	} `json:"policy"`
}

// VerifyCertificate checks a license certificate at time now: signed RS256
// by a pinned root key, typ license+jwt, issued (with Leeway) and not
// expired, valid no longer than MaxCertificateValidity, from the
// Verifier's issuer when it has one. A certificate that fails any of these
// matches ErrInvalid. A genuine certificate whose license or tenant is not
// active is returned with an error matching ErrInactive: the application
// must refuse the license, and may show why.
//
// Certificates from servers before tenant_status and the bounded validity
// (no "tenant_status", or no "exp" for a license without expiry) are
// refused as invalid: fetch a new one.
func (v Verifier) VerifyCertificate(token string, now time.Time) (Certificate, error) {
	fail := func(format string, args ...any) (Certificate, error) {
		return Certificate{}, fmt.Errorf("%w: certificate: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	var cc certificateClaims
	header, signed, sig, err := parse(token, &cc, "RS256")
	if err != nil {
		return fail("%v", err)
	}
	if err := v.rootSigned(header, CertificateType, signed, sig); err != nil {
		return fail("%v", err)
	}
	if err := v.validate(cc.registeredClaims, now); err != nil {
		return fail("%v", err)
	}
	if cc.IssuedAt == nil {
		return fail("iat claim is required")
	}
	if cc.ExpiresAt.Sub(cc.IssuedAt.Time) > MaxCertificateValidity {
		return fail("valid for %v, longer than %v", cc.ExpiresAt.Sub(cc.IssuedAt.Time), MaxCertificateValidity)
	}
	if cc.Subject == "" || cc.Tenant == "" {
		return fail("names no license or tenant")
	}
	if cc.Status == "" || cc.TenantStatus == "" {
		return fail("states no license or tenant status")
	}
	c := Certificate{Issuer: cc.Issuer, LicenseID: cc.Subject, TenantID: cc.Tenant, Product: cc.Product,
		Seats: cc.Seats, LeaseTTLSeconds: cc.LeaseTTLSeconds, Status: cc.Status, TenantStatus: cc.TenantStatus,
		RequireUser: cc.Policy.RequireUser, Leasing: cc.Policy.Leasing,
		IssuedAt: cc.IssuedAt.Time, ExpiresAt: cc.ExpiresAt.Time, Fingerprint: cc.Fingerprint}
	if cc.Policy.MaxSeatsPerUser != nil {
		c.MaxSeatsPerUser = *cc.Policy.MaxSeatsPerUser
	}
	if cc.LicenseExpires != nil {
		c.LicenseExpiresAt = cc.LicenseExpires.Time
	}
	if c.Status != "active" || c.TenantStatus != "active" {
		return c, fmt.Errorf("%w: license %s is %s, its tenant %s", ErrInactive, c.LicenseID, c.Status, c.TenantStatus)
	}
	return c, nil
}

// rootSigned checks a token the root signs itself (alg RS256, already
// checked by parse): its header says it is of type typ, and its signature
// is by the pinned root key its "kid" names.
func (v Verifier) rootSigned(header map[string]any, typ, signed string, sig []byte) error {
	if header["typ"] != typ {
		return fmt.Errorf("typ is not %s", typ)
	}
	kid, _ := header["kid"].(string)
	root, ok := v.Roots[kid]
	if !ok {
		return fmt.Errorf("not signed by a pinned root key (kid %q)", kid)
	}
	digest := sha256.Sum256([]byte(signed))
	return rsa.VerifyPKCS1v15(root, crypto.SHA256, digest[:], sig)
}

// VerifyCertificateFor is VerifyCertificate on the machine fingerprint
// names: a certificate bound to another machine fails with an error
// matching ErrOtherMachine and ErrInvalid. An unbound certificate is valid
// on any machine; an application that sells node-locked use requires
// Certificate.Fingerprint to be set.
func (v Verifier) VerifyCertificateFor(token, fingerprint string, now time.Time) (Certificate, error) {
	c, err := v.VerifyCertificate(token, now)
	if err != nil && !errors.Is(err, ErrInactive) {
		return c, err
	}
	if c.Fingerprint != "" && c.Fingerprint != fingerprint {
		return Certificate{}, fmt.Errorf("%w: certificate: %w", ErrInvalid, ErrOtherMachine)
	}
	return c, err
}
