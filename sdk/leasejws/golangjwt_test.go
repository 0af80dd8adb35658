package leasejws

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtVerify is Verify as the server wrote it on golang-jwt before this
// package existed (the SDK may depend on nothing but the standard library):
// the reference Verify is held to. The delegation's "typ" and its at most
// 24 h life are rules golang-jwt has no option for: they are written out
// here on its parsed header and claims, with their own literals, so a
// change to the package's constants shows as a disagreement.
func jwtVerify(v Verifier, token string, now time.Time) (Claims, error) {
	fail := func(format string, args ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	type delegationClaims struct {
		jwt.RegisteredClaims
		JWK OKPKey `json:"jwk"`
	}
	type leaseClaims struct {
		jwt.RegisteredClaims
		License     string `json:"lic"`
		Tenant      string `json:"ten"`
		Fingerprint string `json:"fpr"`
		Borrow      bool   `json:"borrow"`
		// json.RawMessage: handed null too, so present is told from absent.
		Cnf json.RawMessage `json:"cnf"`
	}
	var dlgClaims delegationClaims
	var delegatedKey ed25519.PublicKey
	opts := []jwt.ParserOption{jwt.WithTimeFunc(func() time.Time { return now }), jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithStrictDecoding()}
	if v.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.Issuer))
	}

	var lc leaseClaims
	parsed, err := jwt.ParseWithClaims(token, &lc, func(t *jwt.Token) (any, error) {
		if t.Header["typ"] != Type {
			return nil, fmt.Errorf("typ is not %s", Type)
		}
		dlg, ok := t.Header["dlg"].(string)
		if !ok || dlg == "" {
			return nil, fmt.Errorf("no delegation")
		}
		_, err := jwt.ParseWithClaims(dlg, &dlgClaims, func(d *jwt.Token) (any, error) {
			if d.Header["typ"] != "dlg+jwt" {
				return nil, fmt.Errorf("typ is not dlg+jwt")
			}
			kid, _ := d.Header["kid"].(string)
			key, ok := v.Roots[kid]
			if !ok {
				return nil, fmt.Errorf("delegation not signed by a pinned root key (kid %q)", kid)
			}
			return key, nil
		}, append(opts, jwt.WithValidMethods([]string{"RS256"}))...)
		if err != nil {
			return nil, fmt.Errorf("delegation: %w", err)
		}
		if dlgClaims.NotBefore == nil || dlgClaims.ExpiresAt == nil {
			return nil, fmt.Errorf("delegation: nbf and exp are required")
		}
		if dlgClaims.ExpiresAt.Sub(dlgClaims.NotBefore.Time) > 24*time.Hour {
			return nil, fmt.Errorf("delegation: lives more than 24h")
		}
		k := dlgClaims.JWK
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			return nil, fmt.Errorf("delegated key is not Ed25519")
		}
		raw, err := b64.DecodeString(k.X)
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("delegated key is malformed")
		}
		delegatedKey = raw
		if want := NewOKPKey(delegatedKey).Kid; k.Kid != want || dlgClaims.Subject != want || t.Header["kid"] != want {
			return nil, fmt.Errorf("lease kid, delegation subject and key thumbprint disagree")
		}
		return delegatedKey, nil
	}, append(opts, jwt.WithValidMethods([]string{"EdDSA"}))...)
	if err != nil || !parsed.Valid {
		return fail("%v", err)
	}
	iat := lc.IssuedAt
	if iat == nil {
		return fail("missing times")
	}
	if iat.Before(dlgClaims.NotBefore.Add(-Leeway)) || iat.After(dlgClaims.ExpiresAt.Time) {
		return fail("lease issued outside its delegation's validity")
	}
	if lc.Subject == "" || lc.License == "" {
		return fail("lease names no session or license")
	}
	c := Claims{Issuer: lc.Issuer, SessionDigest: lc.Subject, LicenseID: lc.License, TenantID: lc.Tenant,
		Fingerprint: lc.Fingerprint, IssuedAt: iat.Time, ExpiresAt: lc.ExpiresAt.Time, Borrow: lc.Borrow}
	// "cnf" (RFC 7800) is a rule golang-jwt knows nothing of: written out
	// here on the member golang-jwt decoded, with its own literals.
	if lc.Cnf != nil {
		k, err := jwtConfirmation(lc.Cnf)
		if err != nil {
			return fail("%v", err)
		}
		c.Confirmation = k
	}
	return c, nil
}

// jwtConfirmation is the format's rule for "cnf", read as a generic JSON
// value: {"jwk": {"kty":"OKP","crv":"Ed25519","x":<43 base64url characters
// of 32 bytes>[,"kid":<string>]}}, nothing more.
func jwtConfirmation(raw json.RawMessage) (*OKPKey, error) {
	var cnf map[string]any
	if err := json.Unmarshal(raw, &cnf); err != nil || cnf == nil || len(cnf) != 1 {
		return nil, errors.New("cnf is not an object of one member")
	}
	jwk, ok := cnf["jwk"].(map[string]any)
	if !ok {
		return nil, errors.New("cnf jwk is not an object")
	}
	var k OKPKey
	for name, v := range jwk {
		s, ok := v.(string)
		if !ok {
			return nil, errors.New("cnf jwk member is not a string")
		}
		switch name {
		case "kty":
			k.Kty = s
		case "crv":
			k.Crv = s
		case "x":
			k.X = s
		case "kid":
			k.Kid = s
		default:
			return nil, errors.New("cnf jwk has an unknown member")
		}
	}
	if k.Kty != "OKP" || k.Crv != "Ed25519" || len(k.X) != 43 || strings.ContainsAny(k.X, "\r\n=+/.") {
		return nil, errors.New("cnf jwk is not an Ed25519 key")
	}
	if x, err := base64.RawURLEncoding.Strict().DecodeString(k.X); err != nil || len(x) != 32 {
		return nil, errors.New("cnf jwk x is malformed")
	}
	return &k, nil
}

// sameVerdict fails t unless Verify and jwtVerify agree on token: both
// reject it (Verify with ErrInvalid), or both accept it with equal claims.
func sameVerdict(t *testing.T, v Verifier, token string, at time.Time) {
	t.Helper()
	got, err := v.Verify(token, at)
	if strings.IndexFunc(token, notCompact) >= 0 {
		// The one place we differ on purpose: golang-jwt's base64 skips
		// line breaks, so it verifies a lease with one inserted; no
		// character outside a compact JWS's alphabet gets past Verify.
		if err == nil {
			t.Fatalf("Verify(%q) accepted a character outside base64url", token)
		}
		return
	}
	want, wantErr := jwtVerify(v, token, at)
	switch {
	case err != nil && !errors.Is(err, ErrInvalid):
		t.Fatalf("Verify(%.80q) = %v, not ErrInvalid", token, err)
	case (err == nil) != (wantErr == nil):
		t.Fatalf("Verify(%q) = %v; golang-jwt: %v", token, err, wantErr)
	case err == nil && (got.Issuer != want.Issuer || got.SessionDigest != want.SessionDigest || got.LicenseID != want.LicenseID ||
		got.TenantID != want.TenantID || got.Fingerprint != want.Fingerprint ||
		!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		got.Borrow != want.Borrow || !sameKey(got.Confirmation, want.Confirmation)):
		t.Fatalf("Verify(%q) = %+v; golang-jwt: %+v", token, got, want)
	}
}

// sameKey reports whether a and b are both nil or equal keys.
func sameKey(a, b *OKPKey) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// FuzzVerifyAsGolangJWT signs whatever headers and payloads it is given
// (JSON templates: $ROOT, $KID, $X, $ISS and, in the lease header, $DLG
// stand for the root kid, the delegated kid and key, the issuer and the
// signed delegation) and checks that Verify decides as golang-jwt did:
// every rule of the claims (types, times, names), not only the signatures.
func FuzzVerifyAsGolangJWT(f *testing.F) {
	root := newTestRoot(f)
	n := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }
	dlgHeader := `{"alg":"RS256","kid":"$ROOT","typ":"dlg+jwt"}`
	dlgPayload := `{"exp":` + n(time.Hour) + `,"iat":` + n(0) + `,"iss":"$ISS","jwk":{"kty":"OKP","crv":"Ed25519","x":"$X","kid":"$KID"},"nbf":` + n(-time.Minute) + `,"sub":"$KID"}`
	leaseHeader := `{"alg":"EdDSA","typ":"lease+jwt","kid":"$KID","dlg":"$DLG"}`
	leasePayload := `{"iss":"$ISS","sub":"sess","lic":"lic","ten":"ten","fpr":"fp","iat":` + n(0) + `,"exp":` + n(5*time.Minute) + `}`
	f.Add(dlgHeader, dlgPayload, leaseHeader, leasePayload)
	for _, r := range [][2]string{
		{`"exp":` + n(5*time.Minute), `"exp":"` + n(5*time.Minute) + `.9"`},
		{`"exp":` + n(5*time.Minute), `"exp":` + n(-Leeway)},
		{`"exp":` + n(5*time.Minute), `"exp":null`},
		{`"exp":` + n(5*time.Minute), `"exp":1e400`},
		{`"iat":` + n(0), `"iat":` + n(Leeway+time.Second)},
		{`"iat":` + n(0), `"iat":` + n(-time.Minute-Leeway)},
		{`"iat":` + n(0), `"iat":-0.5`},
		{`"sub":"sess"`, `"sub":"sess","aud":["a",1]`},
		{`"sub":"sess"`, `"sub":"sess","aud":null,"jti":"j","nbf":` + n(Leeway)},
		{`"sub":"sess"`, `"sub":"sess","SUB":"other","Lic":"lic2"`},
		{`"iss":"$ISS"`, `"iss":"$ISS","iss":"https://other"`},
		{`"lic":"lic"`, `"lic":"lic"} `},
		{`"lic":"lic"`, `"lic":7`},
	} {
		f.Add(dlgHeader, dlgPayload, leaseHeader, strings.Replace(leasePayload, r[0], r[1], 1))
	}
	for _, r := range [][2]string{
		{`"nbf":` + n(-time.Minute), `"nbf":` + n(-time.Minute) + `.99`},
		{`"nbf":` + n(-time.Minute) + `,`, ``},
		{`"exp":` + n(time.Hour), `"exp":` + n(-Leeway)},
		{`"sub":"$KID"`, `"sub":"$KID","jwk":{"kty":"OKP","crv":"Ed25519","x":"$X"}`},
		{`"kty":"OKP"`, `"kty":"OKP","KID":"x"`},
		{`"iss":"$ISS"`, `"iss":""`},
	} {
		f.Add(dlgHeader, strings.Replace(dlgPayload, r[0], r[1], 1), leaseHeader, leasePayload)
	}
	// The delegation says what it is, and nothing else the root signs does.
	for _, h := range []string{`{"alg":"RS256","kid":"$ROOT","typ":"JWT"}`, `{"alg":"RS256","kid":"$ROOT","typ":"license+jwt"}`,
		`{"alg":"RS256","kid":"$ROOT","typ":"DLG+JWT"}`, `{"alg":"RS256","kid":"$ROOT","typ":"dlg+jwt","Typ":"JWT"}`,
		`{"alg":"RS256","kid":"$ROOT","typ":["dlg+jwt"]}`} {
		f.Add(h, dlgPayload, leaseHeader, leasePayload)
	}
	// It lives at most 24 h from nbf (a minute ago) to exp: exactly that,
	// a second more, a year, and exactly that with a fraction dropped.
	for _, exp := range []string{n(24*time.Hour - time.Minute), n(24*time.Hour - time.Minute + time.Second),
		n(365 * 24 * time.Hour), n(24*time.Hour-time.Minute) + ".9"} {
		f.Add(dlgHeader, strings.Replace(dlgPayload, `"exp":`+n(time.Hour), `"exp":`+exp, 1), leaseHeader, leasePayload)
	}
	// A borrow lease names its device key ("cnf", RFC 7800) one way only.
	cnf := `"cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}`
	for _, c := range []string{`"borrow":true,` + cnf, `"borrow":false`, `"borrow":"true"`, `"borrow":1`, `"borrow":null`, cnf,
		`"cnf":null`, `"cnf":{}`, `"cnf":[]`, `"cnf":"x"`, `"cnf":{"jwk":null}`, `"cnf":{"jwk":{}}`,
		strings.Replace(cnf, `"}}`, `","kid":"k"}}`, 1), strings.Replace(cnf, `"}}`, `","kid":7}}`, 1),
		strings.Replace(cnf, `"}}`, `","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}`, 1),
		strings.Replace(cnf, `"}}`, `"},"kid":"k"}`, 1), strings.Replace(cnf, `"jwk"`, `"JWK"`, 1),
		strings.Replace(cnf, `"kty"`, `"KTY"`, 1), strings.Replace(cnf, `"cnf"`, `"CNF"`, 1),
		strings.Replace(cnf, `"OKP"`, `"EC"`, 1), strings.Replace(cnf, `"Ed25519"`, `"X25519"`, 1),
		strings.Replace(cnf, `11qY`, `11qY\n`, 1), strings.Replace(cnf, `URo"`, `URo="`, 1), strings.Replace(cnf, `URo"`, `URp"`, 1),
		strings.Replace(cnf, `URo"`, `UR"`, 1), strings.Replace(cnf, `"x":"11qY`, `"x":"11q+`, 1),
		cnf + `,` + strings.Replace(cnf, `11qY`, `22qY`, 1)} {
		f.Add(dlgHeader, dlgPayload, leaseHeader, strings.Replace(leasePayload, `"fpr":"fp"`, `"fpr":"fp",`+c, 1))
	}
	f.Add(`{"alg":"RS256","kid":"$ROOT"}`, dlgPayload, `{"alg":"EdDSA","typ":"lease+jwt","kid":"$KID","dlg":"$DLG","alg":"none"}`, leasePayload)
	f.Add(dlgHeader, dlgPayload, `{"alg":"EdDSA","Typ":"JWT","typ":"lease+jwt","kid":"$KID","dlg":"$DLG"}`, leasePayload)
	f.Add(`{"alg":"HS256","kid":"$ROOT"}`, dlgPayload, `{"alg":"EdDSA","typ":"lease+jwt","kid":"$KID","dlg":"$DLG"}`, `null`)
	d := root.delegate(f, now, now, nil) // only its key is used
	f.Fuzz(func(t *testing.T, dlgHeader, dlgPayload, leaseHeader, leasePayload string) {
		fill := strings.NewReplacer("$ROOT", root.kid, "$KID", d.kid, "$X", NewOKPKey(d.key.Public().(ed25519.PublicKey)).X,
			"$ISS", "https://api.test").Replace
		dlg := compact(t, []byte(fill(dlgHeader)), []byte(fill(dlgPayload)), root.sign(t))
		token := d.lease(t, []byte(strings.ReplaceAll(fill(leaseHeader), "$DLG", dlg)), []byte(fill(leasePayload)))
		for _, v := range []Verifier{root.verifier(), {Roots: map[string]*rsa.PublicKey{root.kid: &root.key.PublicKey}}} {
			sameVerdict(t, v, token, now)
		}
	})
}
