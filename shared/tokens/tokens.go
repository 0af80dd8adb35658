// Package tokens makes and parses the two bearer strings the SDK holds: the
// license key and the session id.
//
// Both embed the license id in the clear so the seat scripts can find the
// license's Redis keys without a lookup table (one round trip per call); the
// unguessable part is random. A license key is stored only as its SHA-256: the
// key has 256 random bits, so a fast hash is enough and lets the hash be the
// lookup value, compared in constant time.
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

const (
	licenseKeyPrefix = "lk_"
	keySecretBytes   = 32
	sessionBytes     = 16
	uuidHexLen       = 32
	// DisplayPrefixLen is how much of a license key is kept to recognise it
	// in lists: the prefix and license id, plus four random characters.
	DisplayPrefixLen = len(licenseKeyPrefix) + uuidHexLen + 1 + 4
)

var (
	b64 = base64.RawURLEncoding

	licenseKeyLen = len(licenseKeyPrefix) + uuidHexLen + 1 + b64.EncodedLen(keySecretBytes)
	sessionIDLen  = uuidHexLen + 1 + b64.EncodedLen(sessionBytes)
	// SessionTokenLen is the length of the random part of a session id, the
	// only part Redis stores.
	SessionTokenLen = b64.EncodedLen(sessionBytes)
)

// ErrMalformed is returned for a string that cannot be a key or session id.
var ErrMalformed = errors.New("malformed token")

// NewLicenseKey returns a fresh key for the license and the hash to store.
func NewLicenseKey(licenseID string) (key, hash string, err error) {
	idHex, err := uuidToHex(licenseID)
	if err != nil {
		return "", "", err
	}
	secret, err := random(keySecretBytes)
	if err != nil {
		return "", "", err
	}
	key = licenseKeyPrefix + idHex + "_" + secret
	return key, Hash(key), nil
}

// ParseLicenseKey returns the license id a key names and the key's hash. It
// checks only the form; whether the key is right is for the caller to check
// against the stored hash.
func ParseLicenseKey(key string) (licenseID, hash string, err error) {
	if len(key) != licenseKeyLen || !strings.HasPrefix(key, licenseKeyPrefix) {
		return "", "", ErrMalformed
	}
	rest := key[len(licenseKeyPrefix):]
	if rest[uuidHexLen] != '_' || !isB64(rest[uuidHexLen+1:]) {
		return "", "", ErrMalformed
	}
	licenseID, err = hexToUUID(rest[:uuidHexLen])
	if err != nil {
		return "", "", err
	}
	return licenseID, Hash(key), nil
}

// NewSessionID returns a fresh session id for the license and its random
// token (the part Redis stores).
func NewSessionID(licenseID string) (id, token string, err error) {
	if !ValidUUID(licenseID) {
		return "", "", ErrMalformed
	}
	token, err = random(sessionBytes)
	if err != nil {
		return "", "", err
	}
	return SessionID(licenseID, token), token, nil
}

// SessionID joins a license id and a session token. The license id must be
// a canonical UUID and the token one made by NewSessionID.
func SessionID(licenseID, token string) string {
	return strings.ReplaceAll(licenseID, "-", "") + "." + token
}

// ParseSessionID splits a session id into its license id and token.
func ParseSessionID(id string) (licenseID, token string, err error) {
	if len(id) != sessionIDLen || id[uuidHexLen] != '.' {
		return "", "", ErrMalformed
	}
	token = id[uuidHexLen+1:]
	if !isB64(token) {
		return "", "", ErrMalformed
	}
	licenseID, err = hexToUUID(id[:uuidHexLen])
	if err != nil {
		return "", "", err
	}
	return licenseID, token, nil
}

// Hash is the stored form of a secret: lowercase hex SHA-256.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Equal compares two secrets (or hashes) in constant time. Both sides are
// hashed first so that not even their lengths leak through timing.
func Equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// ValidUUID reports whether s is a canonical lowercase UUID, the only form
// the API accepts in paths.
func ValidUUID(s string) bool {
	_, err := uuidToHex(s)
	return err == nil
}

func random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return b64.EncodeToString(b), nil
}

func uuidToHex(id string) (string, error) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return "", ErrMalformed
	}
	h := id[:8] + id[9:13] + id[14:18] + id[19:23] + id[24:]
	if !isLowerHex(h) {
		return "", ErrMalformed
	}
	return h, nil
}

func hexToUUID(h string) (string, error) {
	if len(h) != uuidHexLen || !isLowerHex(h) {
		return "", ErrMalformed
	}
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isB64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewUUID returns a random (version 4) UUID in canonical form. Licenses get
// their id before they are stored because the key embeds it.
func NewUUID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}
