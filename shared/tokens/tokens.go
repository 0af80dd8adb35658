// Package tokens makes and parses the two bearer strings the SDK holds: the
// license key and the session id, and the digest that names a session
// everywhere but in its holder's hands.
//
// Both embed the license id in the clear so the seat scripts can find the
// license's Redis keys without a lookup table (one round trip per call); the
// unguessable part is random. A license key is stored only as its SHA-256: the
// key has 256 random bits, so a fast hash is enough and lets the hash be the
// lookup value, compared in constant time.
package tokens

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/coditect-ai/license-server/sdk/leasejws"
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
	// SessionTokenLen is the length of the secret part of a session id
	// (and of a session's nonce).
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

// Session is one session in its three forms.
type Session struct {
	// ID is the bearer credential that heartbeats and releases the seat:
	// only its holder is ever shown it.
	ID string
	// Digest names the session everywhere else: in Redis, in leases (their
	// "sub"), in the usage ledger and in admin lists (SessionDigest of ID).
	Digest string
	// Nonce is what Redis keeps so that the license key derives ID again
	// when the workstation acquires once more and resumes the session.
	Nonce string
}

// NewSession returns a fresh session of the license: a random nonce and the
// id derived from it and the license key (see DeriveSession).
func NewSession(licenseID, licenseKey string) (Session, error) {
	nonce, err := random(sessionBytes)
	if err != nil {
		return Session{}, err
	}
	return DeriveSession(licenseID, licenseKey, nonce)
}

// DeriveSession returns the session whose nonce is given: its token is an
// HMAC-SHA256 of the nonce under the license key, cut to 128 bits.
//
// Why derived: a workstation that acquires again resumes its live session
// and is answered its session id, yet Redis holds only the digest. The
// resuming caller presents the license key (acquire needs it, and the
// script checks it against the stored hash before it resumes anything), so
// the key re-derives the id from the nonce Redis keeps. Nothing in Redis
// yields the id without the key, and no server-wide secret has to be
// distributed or rotated. Whoever holds the license key and a fingerprint
// could already resume that workstation's session, so this gives no one
// the id who could not get it before.
func DeriveSession(licenseID, licenseKey, nonce string) (Session, error) {
	if !ValidUUID(licenseID) || len(nonce) != SessionTokenLen || !isB64(nonce) {
		return Session{}, ErrMalformed
	}
	mac := hmac.New(sha256.New, []byte(licenseKey))
	mac.Write([]byte(sessionDomain))
	mac.Write([]byte(nonce))
	var sum [sha256.Size]byte
	id := SessionID(licenseID, b64.EncodeToString(mac.Sum(sum[:0])[:sessionBytes]))
	return Session{ID: id, Digest: SessionDigest(id), Nonce: nonce}, nil
}

// sessionDomain keeps the HMAC of session ids apart from any other use of
// the license key.
const sessionDomain = "license-server session id\x00"

// SessionDigest is the name of a session everywhere but in its holder's
// hands: the lease format's (leasejws.SessionDigest), 32 lowercase hex
// characters.
func SessionDigest(sessionID string) string { return leasejws.SessionDigest(sessionID) }

// SessionDigestLen is the length of a SessionDigest.
const SessionDigestLen = 2 * leasejws.SessionDigestBytes

// IsSessionDigest reports whether s has the form of a SessionDigest.
func IsSessionDigest(s string) bool { return len(s) == SessionDigestLen && isLowerHex(s) }

// NewSessionID returns a random session id for the license and its random
// token. The service derives its sessions' ids (NewSession); tests use this
// for ids the service never issued.
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
