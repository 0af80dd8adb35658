package links

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// MinSignerKey is the shortest key NewSigner accepts: a shorter key would
// be weaker than HMAC-SHA256's 256 bits.
const MinSignerKey = 32

// maxToken bounds a token Verify decodes: link tokens are a few hundred
// characters, and a URL parameter is attacker-sized otherwise.
const maxToken = 4096

// ErrInvalidToken is returned by Verify for a token that is malformed,
// was not made by this key, or was made for another purpose.
var ErrInvalidToken = errors.New("links: invalid token")

// ErrExpiredToken is returned by Verify for a genuine token past its
// expiry, so a page can say "this link has expired" rather than "invalid".
var ErrExpiredToken = errors.New("links: expired token")

// macContext starts every MAC input, so a MAC this package computes cannot
// be mistaken for one computed with the same key for anything else.
const macContext = "license-server/links token v1"

// Signer makes and checks signed, expiring link tokens (unsubscribe links,
// invitation links): HMAC-SHA256 over a small JSON body, base64url without
// padding. A token is
//
//	base64url(body) "." base64url(HMAC(key, context 0 purpose 0 body))
//
// with body {"exp": unix seconds, "data": the caller's payload}. The
// purpose is in the MAC but not in the token: a token made for one purpose
// ("unsubscribe") fails verification for any other ("invitation"). The
// payload is signed, not encrypted: anyone holding the link can read it.
type Signer struct {
	key []byte
	now func() time.Time
}

// NewSigner returns a signer with key (at least MinSignerKey bytes; the
// signer keeps its own copy) and clock now (nil: time.Now).
func NewSigner(key []byte, now func() time.Time) (*Signer, error) {
	if len(key) < MinSignerKey {
		return nil, fmt.Errorf("links: signer key of %d bytes; at least %d needed", len(key), MinSignerKey)
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: bytes.Clone(key), now: now}, nil
}

type tokenBody struct {
	Exp  int64           `json:"exp"`
	Data json.RawMessage `json:"data"`
}

// Sign returns a token binding payload (marshalled as JSON) to purpose,
// valid for ttl from now (rounded up to the second).
func (s *Signer) Sign(purpose string, payload any, ttl time.Duration) (string, error) {
	if err := checkPurpose(purpose); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("links: token lifetime %v is not positive", ttl)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("links: encoding the token payload: %w", err)
	}
	exp := s.now().Add(ttl + time.Second - 1).Unix()
	body, err := json.Marshal(tokenBody{Exp: exp, Data: data})
	if err != nil {
		return "", fmt.Errorf("links: encoding the token: %w", err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(body) + "." + enc.EncodeToString(s.mac(purpose, body)), nil
}

// Verify checks that token was made by this key for purpose and has not
// expired, then decodes its payload into into (nil: the payload is not
// decoded). It returns an error wrapping ErrInvalidToken or
// ErrExpiredToken, or a decoding error when into does not fit.
func (s *Signer) Verify(purpose, token string, into any) error {
	if err := checkPurpose(purpose); err != nil {
		return err
	}
	if len(token) > maxToken {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidToken, maxToken)
	}
	b64, m64, ok := strings.Cut(token, ".")
	if !ok {
		return fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	// Strict: no padding, no characters outside the alphabet, so one
	// token has one spelling.
	enc := base64.RawURLEncoding.Strict()
	body, err := enc.DecodeString(b64)
	if err != nil {
		return fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	mac, err := enc.DecodeString(m64)
	if err != nil {
		return fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	// hmac.Equal compares in constant time: the time taken tells nothing
	// of how many leading bytes of a forged MAC were right.
	if !hmac.Equal(mac, s.mac(purpose, body)) {
		return fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	var tb tokenBody
	if err := json.Unmarshal(body, &tb); err != nil {
		// Signed by us yet unreadable: a format of another version.
		return fmt.Errorf("%w: unreadable body", ErrInvalidToken)
	}
	if !s.now().Before(time.Unix(tb.Exp, 0)) {
		return ErrExpiredToken
	}
	if into == nil {
		return nil
	}
	if err := json.Unmarshal(tb.Data, into); err != nil {
		return fmt.Errorf("links: decoding the token payload: %w", err)
	}
	return nil
}

func (s *Signer) mac(purpose string, body []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(macContext))
	h.Write([]byte{0})
	h.Write([]byte(purpose))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

// checkPurpose refuses an empty purpose and one holding the separator,
// which would make two (purpose, body) pairs MAC the same input.
func checkPurpose(p string) error {
	if p == "" || strings.IndexByte(p, 0) >= 0 {
		return errors.New("links: a token purpose must be non-empty and hold no NUL")
	}
	return nil
}
