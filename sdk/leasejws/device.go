package leasejws

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Device keys: the Ed25519 key pair a client makes for one borrow. The
// server writes its public half into the borrow lease ("cnf", RFC 7800) and
// later accepts the borrow's early return only with a proof signed by the
// private half (return.go), so the seat can be given back only from the
// device that holds it.

// NewDeviceKey makes a device key pair from crypto/rand: the private key
// stays on the device, the JWK is what the client sends.
func NewDeviceKey() (ed25519.PrivateKey, OKPKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, OKPKey{}, fmt.Errorf("generating device key: %w", err)
	}
	return priv, DeviceJWK(pub), nil
}

// DeviceJWK is pub as an OKP JWK with only the members RFC 8037 requires
// (no kid: a device key is named by its [Thumbprint] where it needs a
// name). It does not check pub; [OKPKey.Ed25519] does.
func DeviceJWK(pub ed25519.PublicKey) OKPKey {
	return OKPKey{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(pub)}
}

// Ed25519 returns the public key k holds, checked strictly: kty "OKP", crv
// "Ed25519", and x the base64url of exactly 32 bytes, unpadded, with no
// other spelling (no line breaks, no spare bits set). Anything else is an
// error, so a key has one JWK form and one thumbprint.
//
// It does not refuse the few Ed25519 points of small order: a device key is
// chosen by the client it protects, and such a key would only weaken that
// client's own borrow.
func (k OKPKey) Ed25519() (ed25519.PublicKey, error) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		return nil, fmt.Errorf("key is not an Ed25519 OKP JWK (kty %q, crv %q)", k.Kty, k.Crv)
	}
	// Go's base64 skips \r and \n even in strict mode: check the alphabet
	// first so that no second spelling of x decodes.
	if len(k.X) != b64.EncodedLen(ed25519.PublicKeySize) || strings.IndexFunc(k.X, notBase64URL) >= 0 {
		return nil, errors.New("key x is not 43 base64url characters")
	}
	raw, err := segment.DecodeString(k.X)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, errors.New("key x is not the base64url of 32 bytes")
	}
	return ed25519.PublicKey(raw), nil
}

// Thumbprint is k's RFC 7638 thumbprint: the base64url SHA-256 of its
// required members in lexicographic order without whitespace. Only a key
// [OKPKey.Ed25519] accepts has one.
func Thumbprint(k OKPKey) (string, error) {
	if _, err := k.Ed25519(); err != nil {
		return "", err
	}
	return thumbprint(k.X), nil
}

// thumbprint is the RFC 7638 thumbprint of the Ed25519 key whose x is x.
func thumbprint(x string) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return b64.EncodeToString(sum[:])
}

// notBase64URL reports whether r is outside the base64url alphabet.
func notBase64URL(r rune) bool { return r == '.' || notCompact(r) }
