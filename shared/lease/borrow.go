package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/rootkey"
)

// MaxBorrow is the longest a borrow lease may run from its "iat": every
// verifier refuses a longer one.
const MaxBorrow = leasejws.MaxBorrow

// Claims handed to the wrong signer: a BorrowSigner signs only borrow
// leases (Borrow and a device key), a Signer only other leases.
var (
	// ErrNotBorrow: BorrowSigner.Lease of an ordinary lease's claims.
	ErrNotBorrow = errors.New("lease: not a borrow lease")
	// ErrBorrow: Signer.Lease of a borrow lease's claims.
	ErrBorrow = errors.New("lease: a borrow lease is the root's to sign (BorrowSigner), not a delegated key's")
)

// BorrowSigner signs borrow leases directly with the root key, as license
// certificates are signed, not with a delegated key: a borrow lease lives
// offline for days or weeks, far past the day a delegation lives, and a
// lease a delegated key could sign for that long would let whoever stole
// one instance's key mint borrows. One root signature (a KMS call) per
// borrow is affordable: borrows are rare and off the acquire path. Ready
// once Root and Issuer are set; safe for concurrent use.
type BorrowSigner struct {
	Root   rootkey.Root
	Issuer string
	// Now dates leases whose claims carry no IssuedAt (nil: time.Now).
	Now func() time.Time
}

// Lease signs a borrow lease: the usual lease JWS of typ [Type] (the same
// payload as [Signer.Lease] writes, with "borrow": true and "cnf"), signed
// RS256 by the root with the root's kid, in the header as a certificate's.
// c must say Borrow and name a valid Ed25519 device key (Confirmation), a
// session and a license, and expire after it is issued and at most
// [MaxBorrow] after; its Issuer is ignored (the signer's is written).
// Nothing caps exp otherwise: the borrow's end is the caller's to decide.
func (b *BorrowSigner) Lease(ctx context.Context, c Claims) (string, error) {
	if b.Root == nil || b.Issuer == "" {
		return "", errors.New("lease: borrow signer without root or issuer")
	}
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
		if b.Now != nil {
			iat = b.Now()
		}
	}
	if !c.Borrow || c.Confirmation == nil {
		return "", fmt.Errorf(`%w: "borrow" and a device key are required`, ErrNotBorrow)
	}
	if c.SessionDigest == "" || c.LicenseID == "" {
		return "", errors.New("lease: borrow lease names no session or license")
	}
	// Compared in whole seconds, as the lease states them and verifiers
	// read them, so nothing signed here is refused for a fraction (and
	// in seconds, not a Duration, which a zero exp would overflow).
	if span := c.ExpiresAt.Unix() - iat.Unix(); span <= 0 || span > int64(MaxBorrow/time.Second) {
		return "", fmt.Errorf("lease: borrow lease from %s to %s: exp must follow iat by at most %s",
			iat.UTC().Format(time.RFC3339), c.ExpiresAt.UTC().Format(time.RFC3339), MaxBorrow)
	}
	sc, err := newSignedClaims(b.Issuer, iat, c.ExpiresAt, c)
	if err != nil {
		return "", err
	}
	return rootSign(ctx, b.Root, Type, sc.AppendJSON(make([]byte, 0, 384)))
}

// rootHeader is the header of a token the root signs itself.
type rootHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
	Kid string `json:"kid"`
}

// rootSign returns the compact JWS of payload, typed typ, signed RS256 by
// the root's current key.
func rootSign(ctx context.Context, root rootkey.Root, typ string, payload []byte) (string, error) {
	keys, err := root.PublicKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("reading root keys: %w", err)
	}
	if len(keys) == 0 {
		return "", errors.New("reading root keys: none")
	}
	h, err := json.Marshal(rootHeader{Alg: "RS256", Typ: typ, Kid: keys[0].KID})
	if err != nil {
		return "", fmt.Errorf("encoding %s header: %w", typ, err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	kid, sig, err := root.Sign(ctx, []byte(input))
	if err != nil {
		return "", fmt.Errorf("root signing a %s: %w", typ, err)
	}
	// The header names the key verifiers must use: a signature by any
	// other (a rotation between the two calls) would not verify.
	if kid != keys[0].KID {
		return "", fmt.Errorf("root signed with %s, not the current %s", kid, keys[0].KID)
	}
	return input + "." + b64.EncodeToString(sig), nil
}
