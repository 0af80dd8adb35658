package leasejws

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Leeway is the clock skew tolerated between server and client.
const Leeway = 30 * time.Second

// Verifier checks leases against pinned root public keys (kid → key).
type Verifier struct {
	Roots  map[string]*rsa.PublicKey
	Issuer string // when set, leases and delegations must carry it
}

// Verify checks a lease at time now: the delegation in its "dlg" header
// must be signed RS256 by a pinned root key, say it is a delegation
// ("typ" [DelegationType]), live at most [MaxDelegation] and be valid now;
// the lease must be
// signed EdDSA by the delegated key, issued within the delegation's
// validity, and not expired. Every failure matches ErrInvalid.
//
// Both tokens are read as golang-jwt (v5, with strict base64, required
// "exp", checked "iat" and the Verifier's leeway and issuer) reads them,
// which is how the server verified leases before this package existed; a
// test holds the two equal.
func (v Verifier) Verify(token string, now time.Time) (Claims, error) {
	fail := func(format string, args ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	var lc leaseClaims
	header, signed, sig, err := parse(token, &lc, "EdDSA")
	if err != nil {
		return fail("%v", err)
	}
	key, dc, err := v.delegatedKey(header, Type, now)
	if err != nil {
		return fail("%v", err)
	}
	if !ed25519.Verify(key, []byte(signed), sig) {
		return fail("signature is invalid")
	}
	if err := v.validate(lc.registeredClaims, now); err != nil {
		return fail("%v", err)
	}
	iat := lc.IssuedAt
	if iat == nil {
		return fail("missing times")
	}
	if iat.Before(dc.NotBefore.Add(-Leeway)) || iat.After(dc.ExpiresAt.Time) {
		return fail("lease issued outside its delegation's validity")
	}
	if lc.Subject == "" || lc.License == "" {
		return fail("lease names no session or license")
	}
	c := Claims{Issuer: lc.Issuer, SessionDigest: lc.Subject, LicenseID: lc.License, TenantID: lc.Tenant,
		Fingerprint: lc.Fingerprint, IssuedAt: iat.Time, ExpiresAt: lc.ExpiresAt.Time, Borrow: lc.Borrow,
		Overage: lc.Overage}
	// A "cnf" present in any form (null included) must be a device key:
	// a lease that meant to bind a device and does not parse as one must
	// not pass for an unbound lease.
	if lc.Confirmation != nil {
		if c.Confirmation, err = parseConfirmation(lc.Confirmation); err != nil {
			return fail("%v", err)
		}
	}
	return c, nil
}

// delegatedKey checks that a token's header says it is of type typ (a
// lease or a revocation list, both signed by delegated keys) and checks the
// delegation it carries; it returns the Ed25519 key the delegation vouches
// for, with its claims.
func (v Verifier) delegatedKey(header map[string]any, typ string, now time.Time) (ed25519.PublicKey, delegationClaims, error) {
	var dc delegationClaims
	if header["typ"] != typ {
		return nil, dc, fmt.Errorf("typ is not %s", typ)
	}
	dlg, ok := header["dlg"].(string)
	if !ok || dlg == "" {
		return nil, dc, fmt.Errorf("no delegation")
	}
	dh, signed, sig, err := parse(dlg, &dc, "RS256")
	if err != nil {
		return nil, dc, fmt.Errorf("delegation: %w", err)
	}
	// Only a token the root signed as a delegation vouches for a key: a
	// license certificate, or anything else the root may sign one day, is
	// not one however its payload reads.
	if dh["typ"] != DelegationType {
		return nil, dc, fmt.Errorf("delegation: typ is not %s", DelegationType)
	}
	kid, _ := dh["kid"].(string)
	root, ok := v.Roots[kid]
	if !ok {
		return nil, dc, fmt.Errorf("delegation: delegation not signed by a pinned root key (kid %q)", kid)
	}
	digest := sha256.Sum256([]byte(signed))
	if err := rsa.VerifyPKCS1v15(root, crypto.SHA256, digest[:], sig); err != nil {
		return nil, dc, fmt.Errorf("delegation: %w", err)
	}
	if err := v.validate(dc.registeredClaims, now); err != nil {
		return nil, dc, fmt.Errorf("delegation: %w", err)
	}
	// A delegation bounds its own life, so a leaked or mistaken one (a
	// root signature is all it takes) expires within a day whatever "exp"
	// its signer chose.
	if dc.NotBefore == nil || dc.ExpiresAt == nil {
		return nil, dc, errors.New("delegation: nbf and exp are required")
	}
	if span := dc.ExpiresAt.Sub(dc.NotBefore.Time); span > MaxDelegation {
		return nil, dc, fmt.Errorf("delegation: lives %s, more than %s", span, MaxDelegation)
	}
	k := dc.JWK
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		return nil, dc, fmt.Errorf("delegated key is not Ed25519")
	}
	raw, err := b64.DecodeString(k.X)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, dc, fmt.Errorf("delegated key is malformed")
	}
	if want := NewOKPKey(raw).Kid; k.Kid != want || dc.Subject != want || header["kid"] != want {
		return nil, dc, fmt.Errorf("lease kid, delegation subject and key thumbprint disagree")
	}
	return raw, dc, nil
}

// validate checks the registered claims at now: "exp" is required and not
// past (with Leeway), "nbf" and "iat" when present are not in the future
// (with Leeway), and "iss" is the Verifier's issuer when it has one.
func (v Verifier) validate(c registeredClaims, now time.Time) error {
	var errs []error
	if c.ExpiresAt == nil {
		errs = append(errs, errors.New("exp claim is required"))
	} else if !now.Before(c.ExpiresAt.Add(Leeway)) {
		errs = append(errs, errors.New("token is expired"))
	}
	if c.NotBefore != nil && now.Before(c.NotBefore.Add(-Leeway)) {
		errs = append(errs, errors.New("token is not valid yet"))
	}
	if c.IssuedAt != nil && now.Before(c.IssuedAt.Add(-Leeway)) {
		errs = append(errs, errors.New("token used before issued"))
	}
	if v.Issuer != "" {
		if c.Issuer == "" {
			errs = append(errs, errors.New("iss claim is required"))
		} else if c.Issuer != v.Issuer {
			errs = append(errs, errors.New("token has invalid issuer"))
		}
	}
	return errors.Join(errs...)
}

// parse splits a compact JWS, decodes its header (a JSON object) and its
// payload (into claims) and checks that its "alg" is alg. It returns the
// signing input and the signature, not yet checked.
func parse(token string, claims any, alg string) (header map[string]any, signed string, sig []byte, err error) {
	h, p, sig, signed, err := split(token)
	if err != nil {
		return nil, "", nil, err
	}
	if err := json.Unmarshal(h, &header); err != nil {
		return nil, "", nil, fmt.Errorf("could not JSON decode header: %w", err)
	}
	if err := json.Unmarshal(p, claims); err != nil {
		return nil, "", nil, fmt.Errorf("could not JSON decode claims: %w", err)
	}
	got, ok := header["alg"].(string)
	if !ok {
		return nil, "", nil, errors.New("signing method (alg) is unspecified")
	}
	if got != alg {
		return nil, "", nil, fmt.Errorf("signing method %q is invalid", got)
	}
	return header, signed, sig, nil
}

// split splits a compact JWS into its decoded header, payload and
// signature, and returns its signing input.
func split(token string) (header, payload, sig []byte, signed string, err error) {
	// Go's base64 decoders skip \r and \n even in strict mode, so a lease
	// with a line break inserted would verify as another spelling of
	// itself. A compact JWS holds only the base64url alphabet and dots.
	if i := strings.IndexFunc(token, notCompact); i >= 0 {
		return nil, nil, nil, "", fmt.Errorf("token holds a character outside base64url at byte %d", i)
	}
	h, rest, ok := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(s, ".") {
		return nil, nil, nil, "", errors.New("token contains an invalid number of segments")
	}
	// Strict base64: the last character of a signature has spare bits, and
	// a lenient decoder would let 15 other spellings of every lease verify.
	if header, err = segment.DecodeString(h); err != nil {
		return nil, nil, nil, "", fmt.Errorf("could not base64 decode header: %w", err)
	}
	if payload, err = segment.DecodeString(p); err != nil {
		return nil, nil, nil, "", fmt.Errorf("could not base64 decode claims: %w", err)
	}
	if sig, err = segment.DecodeString(s); err != nil {
		return nil, nil, nil, "", fmt.Errorf("could not base64 decode signature: %w", err)
	}
	return header, payload, sig, token[:len(h)+1+len(p)], nil
}

// segment decodes a JWS segment: base64url, no padding, unused bits zero.
var segment = b64.Strict()

// registeredClaims are the JWT claims (RFC 7519 section 4.1) of both
// tokens. "aud" and "jti" are never checked, but one of the wrong type
// makes a token invalid.
type registeredClaims struct {
	Issuer    string       `json:"iss,omitempty"`
	Subject   string       `json:"sub,omitempty"`
	Audience  claimStrings `json:"aud,omitempty"`
	ExpiresAt *numericDate `json:"exp,omitempty"`
	NotBefore *numericDate `json:"nbf,omitempty"`
	IssuedAt  *numericDate `json:"iat,omitempty"`
	ID        string       `json:"jti,omitempty"`
}

type delegationClaims struct {
	registeredClaims
	JWK OKPKey `json:"jwk"`
}

type leaseClaims struct {
	registeredClaims
	License     string `json:"lic"`
	Tenant      string `json:"ten"`
	Fingerprint string `json:"fpr"`
	Borrow      bool   `json:"borrow"`
	Overage     bool   `json:"overage"`
	// Confirmation is "cnf" as it came, null included (an Unmarshaler is
	// handed a JSON null): nil only when the member is absent.
	Confirmation json.RawMessage `json:"cnf"`
}

// parseConfirmation reads a lease's "cnf" claim as this format writes it
// (RFC 7800): an object whose one member "jwk" is an Ed25519 OKP JWK with
// the members kty, crv, x and optionally kid, names matched exactly. Any
// other shape, a private key's "d" above all, is an error: a borrow lease
// names its device key in one way only.
func parseConfirmation(raw json.RawMessage) (*OKPKey, error) {
	var cnf map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cnf); err != nil || cnf == nil {
		return nil, errors.New("cnf is not a JSON object")
	}
	jwk, ok := cnf["jwk"]
	if !ok || len(cnf) != 1 {
		return nil, errors.New(`cnf has members other than "jwk", or no "jwk"`)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(jwk, &members); err != nil || members == nil {
		return nil, errors.New("cnf jwk is not a JSON object")
	}
	var k OKPKey
	for name, v := range members {
		var field *string
		switch name {
		case "kty":
			field = &k.Kty
		case "crv":
			field = &k.Crv
		case "x":
			field = &k.X
		case "kid":
			field = &k.Kid
		default:
			return nil, fmt.Errorf("cnf jwk has member %q", name)
		}
		if string(v) == "null" || json.Unmarshal(v, field) != nil {
			return nil, fmt.Errorf("cnf jwk %s is not a string", name)
		}
	}
	if _, err := k.Ed25519(); err != nil {
		return nil, fmt.Errorf("cnf jwk: %w", err)
	}
	return &k, nil
}

// numericDate is a JWT time: seconds since the epoch, a JSON number (or a
// string holding one), fractions dropped.
type numericDate struct {
	time.Time
}

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("could not parse NumericDate: %w", err)
	}
	f, err := n.Float64()
	if err != nil {
		return fmt.Errorf("could not convert json number value to float: %w", err)
	}
	round, frac := math.Modf(f)
	d.Time = time.Unix(int64(round), int64(frac*1e9)).Truncate(time.Second)
	return nil
}

// claimStrings is "aud": a string or an array of strings.
type claimStrings []string

func (s *claimStrings) UnmarshalJSON(b []byte) error {
	var value any
	if err := json.Unmarshal(b, &value); err != nil {
		return err
	}
	switch v := value.(type) {
	case nil:
		return nil
	case string:
		*s = claimStrings{v}
	case []any:
		aud := make(claimStrings, 0, len(v))
		for _, e := range v {
			str, ok := e.(string)
			if !ok {
				return errors.New("aud is not a string or an array of strings")
			}
			aud = append(aud, str)
		}
		*s = aud
	default:
		return errors.New("aud is not a string or an array of strings")
	}
	return nil
}

// notCompact reports whether r cannot appear in a compact JWS.
func notCompact(r rune) bool {
	return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.')
}
