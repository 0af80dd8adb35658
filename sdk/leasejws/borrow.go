package leasejws

import (
	"fmt"
	"time"
)

// MaxBorrow is the longest a borrow lease may run from its "iat": the
// longest borrow a license may allow (90 days). A borrow is extended by a
// new lease with a new "iat", so no genuine lease comes near it.
const MaxBorrow = 90 * 24 * time.Hour

// VerifyBorrow checks a borrow lease held offline, at time now.
//
// A borrow lease lives for days or weeks, far past the day a delegation
// lives, so it is not signed by a delegated key: the root signs it itself,
// as it signs license certificates:
//
//	borrow lease  header {"alg":"RS256","typ":"lease+jwt","kid":<root kid>}
//	              payload {"iss","sub","lic","ten","fpr","iat","exp","borrow":true,"cnf"}
//
// So a borrow lease is as hard to forge as a certificate: whoever steals a
// server instance's delegated key can sign ordinary leases until its
// delegation ends, and no borrow at all. The lease must be signed RS256 by
// the pinned root its "kid" names and typed [Type]; at now it must not be
// expired (with [Leeway]), nor issued in the future, and must come from
// the Verifier's issuer. It must say "borrow": true, name its device key
// in "cnf", name a session and a license, and run at most [MaxBorrow] from
// "iat". A lease signed by a delegated key (alg EdDSA) is refused whatever
// it says, and [Verifier.Verify] refuses a root-signed one: neither passes
// for the other. Every failure matches ErrInvalid.
func (v Verifier) VerifyBorrow(token string, now time.Time) (Claims, error) {
	fail := func(format string, args ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: borrow lease: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	var lc leaseClaims
	header, signed, sig, err := parse(token, &lc, "RS256")
	if err != nil {
		return fail("%v", err)
	}
	if err := v.rootSigned(header, Type, signed, sig); err != nil {
		return fail("%v", err)
	}
	if lc.IssuedAt == nil || lc.ExpiresAt == nil {
		return fail("iat and exp claims are required")
	}
	if err := v.validate(lc.registeredClaims, now); err != nil {
		return fail("%v", err)
	}
	iat := lc.IssuedAt.Time
	if lc.Subject == "" || lc.License == "" {
		return fail("names no session or license")
	}
	if !lc.Borrow || lc.Confirmation == nil {
		return fail(`not a borrow lease ("borrow": true and a "cnf" are required)`)
	}
	cnf, err := parseConfirmation(lc.Confirmation)
	if err != nil {
		return fail("%v", err)
	}
	if span := lc.ExpiresAt.Sub(iat); span > MaxBorrow {
		return fail("runs %s from its iat, more than %s", span, MaxBorrow)
	}
	return Claims{Issuer: lc.Issuer, SessionDigest: lc.Subject, LicenseID: lc.License, TenantID: lc.Tenant,
		Fingerprint: lc.Fingerprint, IssuedAt: iat, ExpiresAt: lc.ExpiresAt.Time, Borrow: true, Confirmation: cnf}, nil
}
