package rootkey

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sync"
)

// keyBits is the only root key size accepted, locally as in Cloud KMS
// (RSA_SIGN_PKCS1_4096_SHA256).
const keyBits = 4096

// Local is a Root whose private key lives in process memory. It is for
// `make run` and tests; production signs through KMS.
type Local struct {
	key *rsa.PrivateKey
	kid string

	mu   sync.RWMutex
	keys []PublicKey // the signing key first, then keys added by Trust
}

var _ Root = (*Local)(nil)

// NewLocal parses an RSA-4096 private key from PEM, either PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"). Encrypted PEM, other key
// types and other sizes are rejected.
func NewLocal(pemBytes []byte) (*Local, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("parsing local root key: no PEM block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("parsing local root key: unexpected data after the PEM block")
	}
	if _, ok := block.Headers["Proc-Type"]; ok {
		return nil, fmt.Errorf("parsing local root key: encrypted PEM is not supported")
	}

	var key *rsa.PrivateKey
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing local root key (PKCS#1): %w", err)
		}
		key = k
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing local root key (PKCS#8): %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("parsing local root key: PKCS#8 key is %T, want an RSA key", k)
		}
		key = rk
	default:
		return nil, fmt.Errorf("parsing local root key: PEM block is %q, want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", block.Type)
	}
	return newLocal(key)
}

// GenerateLocal makes a Local with a fresh RSA-4096 key, for `make run` and
// tests only: the key is never stored, so every lease and certificate signed
// under it stops verifying when the process exits.
func GenerateLocal() (*Local, error) {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("generating local root key: %w", err)
	}
	return newLocal(key)
}

func newLocal(key *rsa.PrivateKey) (*Local, error) {
	if err := CheckBits(&key.PublicKey); err != nil {
		return nil, fmt.Errorf("local root key: %w", err)
	}
	key.Precompute()
	kid := Thumbprint(&key.PublicKey)
	return &Local{
		key:  key,
		kid:  kid,
		keys: []PublicKey{{KID: kid, Key: &key.PublicKey}},
	}, nil
}

// Trust adds verify-only public keys, listed by PublicKeys after the signing
// key: earlier root versions that issued leases still in use. Each must be
// RSA-4096 and not already trusted; on error none is added.
func (l *Local) Trust(pubs ...*rsa.PublicKey) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := l.keys
	for i, pub := range pubs {
		if pub == nil {
			return fmt.Errorf("trusting local root key %d: nil key", i)
		}
		if err := CheckBits(pub); err != nil {
			return fmt.Errorf("trusting local root key %d: %w", i, err)
		}
		kid := Thumbprint(pub)
		for _, k := range keys {
			if k.KID == kid {
				return fmt.Errorf("trusting local root key %d: key %s is already trusted", i, kid)
			}
		}
		// Never append in place: PublicKeys callers may hold the old slice.
		keys = append(keys[:len(keys):len(keys)], PublicKey{KID: kid, Key: pub})
	}
	l.keys = keys
	return nil
}

// Sign returns the RS256 signature of signingInput and the signing key's KID.
func (l *Local) Sign(_ context.Context, signingInput []byte) (string, []byte, error) {
	digest := sha256.Sum256(signingInput)
	sig, err := rsa.SignPKCS1v15(nil, l.key, crypto.SHA256, digest[:])
	if err != nil {
		return "", nil, fmt.Errorf("signing with local root key: %w", err)
	}
	return l.kid, sig, nil
}

// PublicKeys lists the signing key, then any keys added by Trust.
func (l *Local) PublicKeys(context.Context) ([]PublicKey, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return append([]PublicKey(nil), l.keys...), nil
}

// CheckBits checks a root key has the size the service requires.
func CheckBits(pub *rsa.PublicKey) error {
	if n := pub.N.BitLen(); n != keyBits {
		return fmt.Errorf("RSA key is %d bits, want %d", n, keyBits)
	}
	return nil
}
