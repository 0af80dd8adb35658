package idempotency

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
)

// scope is what a record belongs to: who sent what key to which endpoint.
type scope struct {
	fields [][]byte // method, path, Authorization, body-named caller, key
}

func newScope(method, path, authorization, caller, key string) scope {
	return scope{fields: [][]byte{[]byte(method), []byte(path), []byte(authorization), []byte(caller), []byte(key)}}
}

// sum hashes a domain name, the scope and more, each length-prefixed so no
// two different inputs meet. The domains keep the three uses independent:
// knowing a record's key name or body hash says nothing of its seal key.
func (s scope) sum(domain string, more ...[]byte) []byte {
	h := sha256.New()
	put := func(h hash.Hash, b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	put(h, []byte("license-server idempotency "+domain))
	for _, f := range s.fields {
		put(h, f)
	}
	for _, f := range more {
		put(h, f)
	}
	return h.Sum(nil)
}

// id names the record in Redis.
func (s scope) id() string { return hex.EncodeToString(s.sum("record")) }

// fingerprint is the keyed hash of the body that tells a retry from a
// reuse of the key. Keyed by the scope (which holds the caller's secret),
// it reveals nothing of a low-entropy body to someone reading Redis.
func (s scope) fingerprint(body []byte) []byte { return s.sum("body", body) }

// aead is the cipher sealing answers for this scope and body: its key is
// derived from the request's secrets (Authorization, key, the body that
// holds a license key), none of which Redis holds.
func (s scope) aead(body []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.sum("seal", body))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts an answer, bound to the record's name.
func (s scope) seal(body []byte, name string, plain []byte) ([]byte, error) {
	g, err := s.aead(body)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce) //nolint:errcheck // crypto/rand.Read never fails
	return g.Seal(nonce, nonce, plain, []byte(name)), nil
}

// open decrypts what seal made.
func (s scope) open(body []byte, name string, sealed []byte) ([]byte, error) {
	g, err := s.aead(body)
	if err != nil {
		return nil, err
	}
	if len(sealed) < g.NonceSize() {
		return nil, errors.New("sealed answer too short")
	}
	return g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(name))
}
