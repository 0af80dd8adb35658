package leasejws

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// certificate signs a license certificate with root: the server's format
// (shared/lease), a payload of an active license of an active tenant issued
// at iat, valid MaxCertificateValidity, changed by change.
func (r *testRoot) certificate(t testing.TB, iat time.Time, change func(header, payload map[string]any)) string {
	t.Helper()
	header := map[string]any{"alg": "RS256", "kid": r.kid, "typ": CertificateType}
	payload := map[string]any{"iss": "https://api.test", "sub": "lic-1", "ten": "ten-1", "prd": "ide", "seats": 5,
		"lease_ttl_seconds": 300, "status": "active", "tenant_status": "active",
		"policy": map[string]any{"require_user": true, "max_seats_per_user": 2, "leasing": "per_user"},
		"iat":    iat.Unix(), "exp": iat.Add(MaxCertificateValidity).Unix()}
	if change != nil {
		change(header, payload)
	}
	return compact(t, header, payload, r.sign(t))
}

func TestVerifyCertificate(t *testing.T) {
	t.Parallel()
	root, other := testRoots(t)
	v := root.verifier()
	iat := time.Unix(1_800_000_000, 0)
	now := iat.Add(time.Hour)

	c, err := v.VerifyCertificate(root.certificate(t, iat, nil), now)
	if err != nil {
		t.Fatal(err)
	}
	want := Certificate{Issuer: "https://api.test", LicenseID: "lic-1", TenantID: "ten-1", Product: "ide", Seats: 5,
		LeaseTTLSeconds: 300, Status: "active", TenantStatus: "active", RequireUser: true, MaxSeatsPerUser: 2,
		Leasing: "per_user", IssuedAt: iat, ExpiresAt: iat.Add(MaxCertificateValidity)}
	if c != want {
		t.Fatalf("certificate = %+v\nwant %+v", c, want)
	}
	licenseExp := iat.Add(24 * time.Hour)
	c, err = v.VerifyCertificate(root.certificate(t, iat, func(_, p map[string]any) {
		p["license_exp"], p["exp"] = licenseExp.Unix(), licenseExp.Unix()
	}), now)
	if err != nil || !c.LicenseExpiresAt.Equal(licenseExp) || !c.ExpiresAt.Equal(licenseExp) {
		t.Fatalf("certificate of a license expiring: %+v, %v", c, err)
	}

	// Genuine, but its license or tenant is not active: refused, and the
	// application can tell why.
	for field, status := range map[string]string{"status": "suspended", "tenant_status": "suspended"} {
		c, err := v.VerifyCertificate(root.certificate(t, iat, func(_, p map[string]any) { p[field] = status }), now)
		if !errors.Is(err, ErrInactive) || errors.Is(err, ErrInvalid) || c.LicenseID != "lic-1" {
			t.Errorf("%s %s: %+v, %v; want ErrInactive with the certificate", field, status, c, err)
		}
	}

	invalid := map[string]string{
		"other root":   other.certificate(t, iat, func(h, _ map[string]any) { h["kid"] = root.kid }),
		"unpinned kid": root.certificate(t, iat, func(h, _ map[string]any) { h["kid"] = "nobody" }),
		"lease typ":    root.certificate(t, iat, func(h, _ map[string]any) { h["typ"] = Type }),
		"no exp (a server before bounded validity)": root.certificate(t, iat, func(_, p map[string]any) {
			delete(p, "exp")
		}),
		"valid longer than the maximum": root.certificate(t, iat, func(_, p map[string]any) {
			p["exp"] = iat.Add(MaxCertificateValidity + time.Minute).Unix()
		}),
		"no tenant status (a server before it)": root.certificate(t, iat, func(_, p map[string]any) {
			delete(p, "tenant_status")
		}),
		"no license status":    root.certificate(t, iat, func(_, p map[string]any) { delete(p, "status") }),
		"no iat":               root.certificate(t, iat, func(_, p map[string]any) { delete(p, "iat") }),
		"no license":           root.certificate(t, iat, func(_, p map[string]any) { delete(p, "sub") }),
		"other issuer":         root.certificate(t, iat, func(_, p map[string]any) { p["iss"] = "https://evil.test" }),
		"expired":              root.certificate(t, iat.Add(-MaxCertificateValidity-time.Hour), nil),
		"issued in the future": root.certificate(t, now.Add(time.Hour), nil),
		"a lease's alg":        root.certificate(t, iat, func(h, _ map[string]any) { h["alg"] = "EdDSA" }),
	}
	for name, cert := range invalid {
		if _, err := v.VerifyCertificate(cert, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	// A payload changed after signing.
	good := root.certificate(t, iat, nil)
	tampered := root.certificate(t, iat, func(_, p map[string]any) { p["seats"] = 500 })
	g, bad := strings.Split(good, "."), strings.Split(tampered, ".")
	if _, err := v.VerifyCertificate(g[0]+"."+bad[1]+"."+g[2], now); !errors.Is(err, ErrInvalid) {
		t.Errorf("tampered payload: %v, want ErrInvalid", err)
	}
}

// TestVerifyCertificateFor: a certificate bound to a machine ("fpr") is
// valid on that machine only; an unbound one on any; the binding is checked
// after the signature, so a forged binding is refused as invalid first.
func TestVerifyCertificateFor(t *testing.T) {
	t.Parallel()
	root, other := testRoots(t)
	v := root.verifier()
	iat := time.Unix(1_800_000_000, 0)
	now := iat.Add(time.Hour)
	bound := root.certificate(t, iat, func(_, p map[string]any) { p["fpr"] = "ws-1" })

	c, err := v.VerifyCertificateFor(bound, "ws-1", now)
	if err != nil || c.Fingerprint != "ws-1" || c.LicenseID != "lic-1" {
		t.Fatalf("bound certificate on its machine: %+v, %v", c, err)
	}
	if c, err := v.VerifyCertificateFor(bound, "ws-2", now); !errors.Is(err, ErrOtherMachine) || !errors.Is(err, ErrInvalid) || c.LicenseID != "" {
		t.Fatalf("bound certificate on another machine: %+v, %v; want ErrOtherMachine", c, err)
	}
	if c, err := v.VerifyCertificateFor(root.certificate(t, iat, nil), "ws-2", now); err != nil || c.Fingerprint != "" {
		t.Fatalf("unbound certificate: %+v, %v", c, err)
	}
	forged := other.certificate(t, iat, func(_, p map[string]any) { p["fpr"] = "ws-1" })
	if _, err := v.VerifyCertificateFor(forged, "ws-1", now); !errors.Is(err, ErrInvalid) || errors.Is(err, ErrOtherMachine) {
		t.Fatalf("a bound certificate under another key: %v, want ErrInvalid", err)
	}
	// Inactive and bound elsewhere: the machine is checked all the same.
	inactive := root.certificate(t, iat, func(_, p map[string]any) { p["fpr"], p["status"] = "ws-1", "suspended" })
	if _, err := v.VerifyCertificateFor(inactive, "ws-2", now); !errors.Is(err, ErrOtherMachine) {
		t.Fatalf("an inactive certificate of another machine: %v", err)
	}
	if c, err := v.VerifyCertificateFor(inactive, "ws-1", now); !errors.Is(err, ErrInactive) || c.Fingerprint != "ws-1" {
		t.Fatalf("an inactive certificate of this machine: %+v, %v", c, err)
	}
}
