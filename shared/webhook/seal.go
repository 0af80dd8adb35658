package webhook

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// SealKeySize is the length of a Sealer's key: AES-256.
const SealKeySize = 32

// Sealer encrypts signing secrets at rest with AES-256-GCM. A sealed
// secret is a random 12-byte nonce followed by the ciphertext and tag; the
// webhook's id is the additional authenticated data, so a sealed secret
// copied into another webhook's row does not open there (a database
// writer cannot make one webhook sign with another's secret).
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer under key, which must be 32 bytes. The key is
// not kept: only the cipher built from it.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("webhook: a sealing key must be %d bytes, not %d", SealKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("webhook: creating the AES cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block) // the standard 12-byte nonce
	if err != nil {
		return nil, fmt.Errorf("webhook: creating AES-GCM: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts secret for the webhook webhookID. Each call draws a new
// random nonce, so sealing the same secret twice gives different bytes.
func (s *Sealer) Seal(webhookID, secret string) ([]byte, error) {
	if webhookID == "" {
		return nil, errors.New("webhook: sealing a secret for no webhook id")
	}
	n := s.aead.NonceSize()
	out := make([]byte, n, n+len(secret)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("webhook: reading a random nonce: %w", err)
	}
	return s.aead.Seal(out, out[:n], []byte(secret), []byte(webhookID)), nil
}

// Open decrypts a secret sealed for webhookID. It fails when the bytes
// were altered, were sealed for another webhook or under another key; the
// error does not say which, as GCM cannot tell.
func (s *Sealer) Open(webhookID string, sealed []byte) (string, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return "", fmt.Errorf("webhook: a sealed secret of %d bytes is too short", len(sealed))
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(webhookID))
	if err != nil {
		return "", fmt.Errorf("webhook: opening the secret of webhook %q: %w", webhookID, err)
	}
	return string(plain), nil
}
