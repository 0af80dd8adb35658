package webhook_test

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/webhook"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func newSealer(t *testing.T, key []byte) *webhook.Sealer {
	t.Helper()
	s, err := webhook.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealer(t *testing.T) {
	t.Parallel()
	s := newSealer(t, newKey(t))
	secret := newSecret(t)
	const id = "wh_01J9ZQ"

	sealed, err := s.Seal(id, secret)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("round trip", func(t *testing.T) {
		t.Parallel()
		got, err := s.Open(id, sealed)
		if err != nil || got != secret {
			t.Fatalf("Open = %q, %v; want the secret", got, err)
		}
		if len(sealed) != 12+len(secret)+16 {
			t.Errorf("sealed is %d bytes, want nonce 12 + %d + tag 16", len(sealed), len(secret))
		}
		if bytes.Contains(sealed, []byte(secret)) || bytes.Contains(sealed, []byte(strings.TrimPrefix(secret, "whsec_"))) {
			t.Error("the secret is readable in the sealed bytes")
		}
	})

	t.Run("another webhook's row does not open", func(t *testing.T) {
		t.Parallel()
		for _, other := range []string{"wh_01J9ZR", "", id + " ", "WH_01J9ZQ"} {
			if got, err := s.Open(other, sealed); err == nil {
				t.Errorf("Open(%q) = %q, want an error", other, got)
			}
		}
	})

	t.Run("tampering is detected", func(t *testing.T) {
		t.Parallel()
		// Every byte: the nonce, the ciphertext and the tag.
		for i := range sealed {
			tampered := bytes.Clone(sealed)
			tampered[i] ^= 0x01
			if got, err := s.Open(id, tampered); err == nil {
				t.Fatalf("byte %d flipped: Open = %q, want an error", i, got)
			}
		}
		for _, cut := range [][]byte{nil, {}, sealed[:11], sealed[:12+15], sealed[:len(sealed)-1]} {
			if got, err := s.Open(id, cut); err == nil {
				t.Errorf("%d bytes: Open = %q, want an error", len(cut), got)
			}
		}
		if got, err := s.Open(id, append(bytes.Clone(sealed), 0)); err == nil {
			t.Errorf("a byte appended: Open = %q, want an error", got)
		}
	})

	t.Run("another key does not open", func(t *testing.T) {
		t.Parallel()
		other := newSealer(t, newKey(t))
		if got, err := other.Open(id, sealed); err == nil {
			t.Fatalf("Open under another key = %q, want an error", got)
		}
	})

	t.Run("two seals differ", func(t *testing.T) {
		t.Parallel()
		again, err := s.Seal(id, secret)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(again, sealed) || bytes.Equal(again[:12], sealed[:12]) {
			t.Fatal("sealing the same secret twice gave the same bytes or nonce")
		}
		if got, err := s.Open(id, again); err != nil || got != secret {
			t.Fatalf("Open = %q, %v; want the secret", got, err)
		}
	})

	t.Run("no webhook id", func(t *testing.T) {
		t.Parallel()
		if _, err := s.Seal("", secret); err == nil {
			t.Fatal("sealed for an empty webhook id")
		}
	})
}

func TestSealerKey(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		if _, err := webhook.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("a key of %d bytes accepted (AES-128 and -192 too: the key must be AES-256's)", n)
		}
	}
	if _, err := webhook.NewSealer(nil); err == nil {
		t.Error("a nil key accepted")
	}

	// The Sealer keeps no reference to the caller's key slice.
	key := newKey(t)
	s := newSealer(t, key)
	sealed, err := s.Seal("wh_1", "whsec_x")
	if err != nil {
		t.Fatal(err)
	}
	clear(key)
	if got, err := s.Open("wh_1", sealed); err != nil || got != "whsec_x" {
		t.Fatalf("after the caller cleared its key: Open = %q, %v", got, err)
	}
}
