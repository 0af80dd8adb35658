package lease

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/jsonappend"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// delegation is one delegated key and the root's signature over it.
type delegation struct {
	kid string
	key ed25519.PrivateKey
	jws string
	nbf time.Time
	exp time.Time
	// header is the encoded protected header every lease under this key
	// carries (it embeds the delegation, about a kilobyte): made once, not
	// per lease.
	header string
}

// Signer signs leases with the instance's delegated key. Safe for
// concurrent use.
type Signer struct {
	root     rootkey.Root
	issuer   string
	lifetime time.Duration
	now      func() time.Time

	mu      sync.RWMutex
	current *delegation
}

// backdate is how far before its signing a delegation's nbf is set, so
// that clients whose clocks lag by more than the verifier's leeway still
// take it at once.
const backdate = time.Minute

// maxLifetime is the longest a delegation may run from its signing: its
// exp less its nbf, the span every verifier bounds, is the lifetime plus
// backdate.
const maxLifetime = MaxDelegation - backdate

// Options tune a signer; zero values take the defaults.
type Options struct {
	// Lifetime of each delegation from its signing, at most MaxDelegation
	// less the minute its nbf is backdated (the default).
	Lifetime time.Duration
	// Now is the clock, for tests.
	Now func() time.Time
}

// NewSigner makes the instance's first delegation: the one root signature
// (a KMS call in production) an instance needs before it can sign leases.
func NewSigner(ctx context.Context, root rootkey.Root, issuer string, o Options) (*Signer, error) {
	if root == nil || issuer == "" {
		return nil, fmt.Errorf("lease: missing root or issuer")
	}
	if o.Lifetime <= 0 || o.Lifetime > maxLifetime {
		o.Lifetime = maxLifetime
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Signer{root: root, issuer: issuer, lifetime: o.Lifetime, now: o.Now}
	if err := s.Renew(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Renew makes a new delegated key and has the root sign it. Until it
// succeeds the signer keeps using the one it has.
func (s *Signer) Renew(ctx context.Context) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fmt.Errorf("generating delegated key: %w", err)
	}
	keys, err := s.root.PublicKeys(ctx)
	if err != nil || len(keys) == 0 {
		return fmt.Errorf("reading root public keys: %w", err)
	}
	jwk := leasejws.NewOKPKey(pub)
	now := s.now().Truncate(time.Second)
	d := &delegation{kid: jwk.Kid, key: priv, nbf: now.Add(-backdate), exp: now.Add(s.lifetime)}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": s.issuer, "sub": jwk.Kid, "jwk": jwk,
		"iat": now.Unix(), "nbf": d.nbf.Unix(), "exp": d.exp.Unix(),
	})
	// Verifiers before DelegationType ignore a delegation's typ, so they
	// take these; verifiers since require it.
	t.Header["typ"] = leasejws.DelegationType
	t.Header["kid"] = keys[0].KID
	input, err := t.SigningString()
	if err != nil {
		return fmt.Errorf("encoding delegation: %w", err)
	}
	kid, sig, err := s.root.Sign(ctx, []byte(input))
	if err != nil {
		return fmt.Errorf("root signing the delegation: %w", err)
	}
	if kid != keys[0].KID {
		return fmt.Errorf("root signed with key %s, not the current %s", kid, keys[0].KID)
	}
	d.jws = input + "." + b64.EncodeToString(sig)
	h, err := json.Marshal(leaseHeader{Alg: "EdDSA", Typ: Type, Kid: d.kid, Dlg: d.jws})
	if err != nil {
		return fmt.Errorf("encoding lease header: %w", err)
	}
	d.header = b64.EncodeToString(h)

	s.mu.Lock()
	s.current = d
	s.mu.Unlock()
	return nil
}

// Lease signs a lease. It refuses once the delegation has expired, so a
// stuck renewal never produces leases clients would reject anyway. It
// refuses a borrow lease's claims (Borrow or a device key) with ErrBorrow:
// the root signs those ([BorrowSigner]), and no client takes a borrow
// lease a delegated key signed.
func (s *Signer) Lease(c Claims) (string, error) {
	if c.Borrow || c.Confirmation != nil {
		return "", ErrBorrow
	}
	s.mu.RLock()
	d := s.current
	s.mu.RUnlock()
	now := s.now()
	if d == nil || !d.exp.After(now) {
		return "", ErrNoDelegation
	}
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = now
	}
	// No lease outlives the delegation that vouches for it: a client could
	// not verify it past that point anyway.
	exp := c.ExpiresAt
	if exp.After(d.exp) {
		exp = d.exp
	}
	sc, err := newSignedClaims(s.issuer, iat, exp, c)
	if err != nil {
		return "", err
	}
	// The header is fixed per delegation, so a lease costs one small JSON
	// encoding and one Ed25519 signature.
	return sign(d, d.header, sc.AppendJSON(make([]byte, 0, 384))), nil
}

// newSignedClaims is the payload of a lease of c issued by iss at iat,
// expiring at exp; a device key it names must be one every verifier takes.
func newSignedClaims(iss string, iat, exp time.Time, c Claims) (signedClaims, error) {
	sc := signedClaims{Iss: iss, Sub: c.SessionDigest, Lic: c.LicenseID, Ten: c.TenantID,
		Fpr: c.Fingerprint, Iat: iat.Unix(), Exp: exp.Unix(), Borrow: c.Borrow, Overage: c.Overage}
	if c.Confirmation != nil {
		// Every verifier refuses a lease whose cnf is not exactly an
		// Ed25519 JWK: refuse to sign one rather than hand it out.
		if _, err := c.Confirmation.Ed25519(); err != nil {
			return signedClaims{}, fmt.Errorf("lease: device key: %w", err)
		}
		sc.Cnf = &confirmation{JWK: *c.Confirmation}
	}
	return sc, nil
}

// sign returns the compact JWS of the encoded header and the payload,
// signed with d's key, built directly.
func sign(d *delegation, header string, payload []byte) string {
	out := make([]byte, 0, len(header)+b64.EncodedLen(len(payload))+b64.EncodedLen(ed25519.SignatureSize)+2)
	out = append(out, header...)
	out = append(out, '.')
	out = b64.AppendEncode(out, payload)
	sig := ed25519.Sign(d.key, out)
	out = append(out, '.')
	out = b64.AppendEncode(out, sig)
	return string(out)
}

// leaseHeader and signedClaims are a lease's JWS header and payload (a
// revocation list's header is a leaseHeader too, of another typ).
type leaseHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
	Dlg string `json:"dlg"`
}

type signedClaims struct {
	Iss string `json:"iss"`
	Sub string `json:"sub"`
	Lic string `json:"lic"`
	Ten string `json:"ten"`
	Fpr string `json:"fpr"`
	Iat int64  `json:"iat"`
	Exp int64  `json:"exp"`
	// Borrow and Cnf are a borrow lease's, left out of any other lease so
	// that it reads byte for byte as before.
	Borrow bool          `json:"borrow,omitempty"`
	Cnf    *confirmation `json:"cnf,omitempty"`
	// Overage: the seat is beyond the license's seats (see
	// leasejws.Claims); left out when false, so an entitled seat's lease
	// reads as before.
	Overage bool `json:"overage,omitempty"`
}

// confirmation is "cnf" (RFC 7800): the key the lease is bound to.
type confirmation struct {
	JWK leasejws.OKPKey `json:"jwk"`
}

// AppendJSON encodes the payload as json.Marshal would (the tags above are
// the reference; a test holds the two equal) without reflection.
func (c signedClaims) AppendJSON(b []byte) []byte {
	o := jsonappend.NewObject(b).String("iss", c.Iss).String("sub", c.Sub).String("lic", c.Lic).
		String("ten", c.Ten).String("fpr", c.Fpr).Int64("iat", c.Iat).Int64("exp", c.Exp)
	if c.Borrow {
		o.Bool("borrow", true)
	}
	b = o.Bytes()
	if c.Cnf == nil {
		return c.appendOverage(b)
	}
	// jsonappend has no nested objects: reopen the closed one for "cnf".
	k := c.Cnf.JWK
	jwk := jsonappend.NewObject(append(b[:len(b)-1], `,"cnf":{"jwk":`...)).
		String("kty", k.Kty).String("crv", k.Crv).String("x", k.X)
	if k.Kid != "" {
		jwk.String("kid", k.Kid)
	}
	return c.appendOverage(append(jwk.Bytes(), '}', '}'))
}

// appendOverage adds "overage": true to the closed object b when the seat
// is overage, last, as json.Marshal orders the tags.
func (c signedClaims) appendOverage(b []byte) []byte {
	if !c.Overage {
		return b
	}
	return append(b[:len(b)-1], `,"overage":true}`...)
}

// RenewsAt is when the background renewal replaces the current delegation:
// half way through its life, leaving the other half for retries.
func (s *Signer) RenewsAt() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.current.exp.Add(-s.lifetime / 2)
}

// Run renews the delegation in the background until ctx ends, retrying a
// failed renewal every retry interval.
func (s *Signer) Run(ctx context.Context, logger *slog.Logger, retry time.Duration) {
	for {
		wait := s.RenewsAt().Sub(s.now())
		if wait < 0 {
			wait = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		for {
			err := s.Renew(ctx)
			if err == nil {
				break
			}
			logger.Error("renewing lease delegation failed; still signing with the current one", "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
		}
	}
}
