package links_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/links"
)

// clock is a settable time for the signer.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type unsubPayload struct {
	Member string `json:"m"`
	Tenant string `json:"t"`
	Kind   string `json:"k"`
}

func newSigner(t *testing.T, key []byte) (*links.Signer, *clock) {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)}
	s, err := links.NewSigner(key, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

var signerKey = bytes.Repeat([]byte{0x42}, 32)

func TestSignerRoundTrip(t *testing.T) {
	t.Parallel()
	s, _ := newSigner(t, signerKey)
	in := unsubPayload{Member: "m-1", Tenant: "t-1", Kind: "usage.weekly_summary"}
	token, err := s.Sign("unsubscribe", in, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// base64url without padding: it goes into a URL as it is.
	if strings.ContainsAny(token, "=+/ ") || strings.Count(token, ".") != 1 {
		t.Errorf("token %q is not two unpadded base64url parts", token)
	}
	var out unsubPayload
	if err := s.Verify("unsubscribe", token, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("payload %+v, want %+v", out, in)
	}
	// nil into: checked, not decoded.
	if err := s.Verify("unsubscribe", token, nil); err != nil {
		t.Errorf("Verify with nil into: %v", err)
	}
}

func TestSignerWrongPurpose(t *testing.T) {
	t.Parallel()
	s, _ := newSigner(t, signerKey)
	token, err := s.Sign("unsubscribe", unsubPayload{Member: "m-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var out unsubPayload
	if err := s.Verify("invitation", token, &out); !errors.Is(err, links.ErrInvalidToken) {
		t.Errorf("a token for unsubscribe verified as an invitation: %v", err)
	}
	if out != (unsubPayload{}) {
		t.Errorf("payload %+v decoded from a refused token", out)
	}
	// The separator keeps ("a", "b...") and ("a\x00b", "...") apart.
	if _, err := s.Sign("a\x00b", 1, time.Hour); err == nil {
		t.Error("a purpose holding NUL was accepted")
	}
	if _, err := s.Sign("", 1, time.Hour); err == nil {
		t.Error("an empty purpose was accepted")
	}
}

func TestSignerTampered(t *testing.T) {
	t.Parallel()
	s, _ := newSigner(t, signerKey)
	token, err := s.Sign("invitation", map[string]string{"invitation": "i-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	body, mac, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	forged := base64.RawURLEncoding.EncodeToString(bytes.Replace(raw, []byte("i-1"), []byte("i-2"), 1))
	other, _ := newSigner(t, bytes.Repeat([]byte{0x43}, 32))
	byOther, err := other.Sign("invitation", map[string]string{"invitation": "i-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(mac)
	if flipped[0] == 'A' {
		flipped[0] = 'B'
	} else {
		flipped[0] = 'A'
	}
	for name, bad := range map[string]string{
		"payload changed":    forged + "." + mac,
		"MAC changed":        body + "." + string(flipped),
		"MAC dropped":        body,
		"MAC empty":          body + ".",
		"MAC truncated":      body + "." + mac[:len(mac)-2],
		"padding added":      body + "." + mac + "=",
		"standard base64":    body + "." + strings.NewReplacer("-", "+", "_", "/").Replace(mac) + "+",
		"another key's":      byOther,
		"empty":              "",
		"two dots":           token + ".x",
		"huge":               strings.Repeat("A", 5000) + "." + mac,
		"body of whitespace": "ICAg." + mac,
	} {
		if err := s.Verify("invitation", bad, nil); !errors.Is(err, links.ErrInvalidToken) {
			t.Errorf("%s: Verify = %v, want ErrInvalidToken", name, err)
		}
	}
}

func TestSignerExpiry(t *testing.T) {
	t.Parallel()
	s, c := newSigner(t, signerKey)
	token, err := s.Sign("unsubscribe", unsubPayload{Member: "m-1"}, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.advance(48*time.Hour - time.Second)
	if err := s.Verify("unsubscribe", token, nil); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	c.advance(time.Second)
	var out unsubPayload
	err = s.Verify("unsubscribe", token, &out)
	if !errors.Is(err, links.ErrExpiredToken) {
		t.Fatalf("at expiry: %v, want ErrExpiredToken", err)
	}
	if errors.Is(err, links.ErrInvalidToken) {
		t.Error("an expired token is also reported invalid")
	}
	if out != (unsubPayload{}) {
		t.Errorf("payload %+v decoded from an expired token", out)
	}
	// An expired token of a wrong purpose is invalid, not expired: the
	// signature is checked before anything else is believed.
	if err := s.Verify("invitation", token, nil); !errors.Is(err, links.ErrInvalidToken) {
		t.Errorf("expired and of another purpose: %v, want ErrInvalidToken", err)
	}
	if _, err := s.Sign("unsubscribe", 1, 0); err == nil {
		t.Error("a zero lifetime was accepted")
	}
}

func TestSignerKeys(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 31} {
		if _, err := links.NewSigner(make([]byte, n), nil); err == nil {
			t.Errorf("a %d-byte key was accepted", n)
		}
	}
	// The signer keeps its own copy: changing the caller's slice changes
	// nothing.
	key := bytes.Repeat([]byte{7}, 32)
	s, _ := newSigner(t, key)
	token, err := s.Sign("unsubscribe", 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key[0] = 8
	if err := s.Verify("unsubscribe", token, nil); err != nil {
		t.Errorf("after the caller's key slice changed: %v", err)
	}
}

func TestSignerPayloadErrors(t *testing.T) {
	t.Parallel()
	s, _ := newSigner(t, signerKey)
	if _, err := s.Sign("unsubscribe", func() {}, time.Hour); err == nil {
		t.Error("a payload JSON cannot encode was accepted")
	}
	token, err := s.Sign("unsubscribe", "a string", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var out unsubPayload
	err = s.Verify("unsubscribe", token, &out)
	if err == nil || errors.Is(err, links.ErrInvalidToken) || errors.Is(err, links.ErrExpiredToken) {
		t.Errorf("decoding into the wrong type: %v, want a decoding error", err)
	}
}
