package license

import (
	"errors"
	"fmt"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

// VerifyCertificate checks a license certificate offline, with no server:
// signed by one of cfg.RootKeys (pinned), from cfg.Issuer (default
// [DefaultIssuer]), issued and not expired by cfg.Now (default time.Now),
// of the license cfg.LicenseKey names (when set), and, when the certificate
// is bound to a machine, of this machine (cfg.Fingerprint, default
// [DefaultFingerprint]). For node-locked offline use, ask the service for a
// certificate bound to the machine's fingerprint (POST
// .../licenses/{license_id}/certificate {"fingerprint"}), ship it to the
// machine, and call this at start: a copy on any other machine fails with
// an error matching [leasejws.ErrOtherMachine]. An unbound certificate is
// valid on any machine (Certificate.Fingerprint is then ""): an application
// that sells node-locked use must require it set.
//
// Every failure matches [leasejws.ErrInvalid], except a genuine certificate
// of a license or tenant that is not active, which is returned with an
// error matching [leasejws.ErrInactive] and [ErrLicenseInactive]: refuse
// the license either way.
func VerifyCertificate(cfg Config, certificate string) (leasejws.Certificate, error) {
	if len(cfg.RootKeys) == 0 {
		return leasejws.Certificate{}, errors.New("license: RootKeys are required to verify a certificate")
	}
	issuer := cfg.Issuer
	if issuer == "" {
		issuer = DefaultIssuer
	}
	fp := cfg.Fingerprint
	if fp == "" {
		var err error
		if fp, err = DefaultFingerprint(); err != nil {
			return leasejws.Certificate{}, err
		}
	}
	now := time.Now()
	if cfg.Now != nil {
		now = cfg.Now()
	}
	v := leasejws.Verifier{Roots: cfg.RootKeys, Issuer: issuer}
	c, err := v.VerifyCertificateFor(certificate, fp, now)
	if errors.Is(err, leasejws.ErrInactive) {
		return c, fmt.Errorf("license: %w: %w", ErrLicenseInactive, err)
	}
	if err != nil {
		return leasejws.Certificate{}, fmt.Errorf("license: %w", err)
	}
	if cfg.LicenseKey != "" {
		id, err := LicenseID(cfg.LicenseKey)
		if err != nil {
			return leasejws.Certificate{}, err
		}
		if c.LicenseID != id {
			return leasejws.Certificate{}, fmt.Errorf("license: %w: the certificate is of another license", leasejws.ErrInvalid)
		}
	}
	return c, nil
}
