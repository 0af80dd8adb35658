package webhook_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/coditect-ai/license-server/shared/webhook"
)

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verify checks a delivery the way a receiver does: with the reference
// library's Verify (timestamp tolerance included), not with our code.
// It runs in handlers too, so it reports by its error, not through t.
func verify(secret string, body []byte, h http.Header) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return fmt.Errorf("the library refuses the secret: %w", err)
	}
	return wh.Verify(body, h)
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, b := newSecret(t), newSecret(t)
	if a == b {
		t.Fatal("two secrets are equal")
	}
	body := []byte(`{"type":"ping"}`)
	for _, s := range []string{a, b} {
		encoded, ok := strings.CutPrefix(s, "whsec_")
		if !ok {
			t.Fatalf("secret %q lacks the whsec_ prefix", s)
		}
		key, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil || len(key) != 32 {
			t.Fatalf("secret %q decodes to %d bytes (%v), want 32", s, len(key), err)
		}
		// The library accepts it: it signs under it and verifies that.
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatalf("the library refuses %q: %v", s, err)
		}
		now := time.Now()
		sig, err := wh.Sign("msg_1", now, body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(standardwebhooks.HeaderWebhookID, "msg_1")
		h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(standardwebhooks.HeaderWebhookSignature, sig)
		if err := wh.Verify(body, h); err != nil {
			t.Fatalf("the library does not verify its own signature under %q: %v", s, err)
		}
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	current, previous, stranger := newSecret(t), newSecret(t), newSecret(t)
	m := webhook.Message{
		ID:        "evt_2yQ6s3",
		Timestamp: time.Now(),
		Body:      []byte(`{"type":"license.created","data":{"seats":5,"name":"Zoë"}}`),
	}

	t.Run("one secret", func(t *testing.T) {
		t.Parallel()
		h, err := webhook.Headers(m, current)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Get("webhook-id"); got != m.ID {
			t.Errorf("webhook-id %q, want %q", got, m.ID)
		}
		if got, want := h.Get("webhook-timestamp"), strconv.FormatInt(m.Timestamp.Unix(), 10); got != want {
			t.Errorf("webhook-timestamp %q, want %q", got, want)
		}
		if sig := h.Get("webhook-signature"); !strings.HasPrefix(sig, "v1,") || strings.Contains(sig, " ") {
			t.Errorf("webhook-signature %q, want one v1 signature", sig)
		}
		if err := verify(current, m.Body, h); err != nil {
			t.Errorf("the receiver's library refuses the delivery: %v", err)
		}
		if err := verify(stranger, m.Body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("a wrong secret verified: %v", err)
		}
		altered := append([]byte(nil), m.Body...)
		altered[len(altered)-2] = ' '
		if err := verify(current, altered, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("an altered body verified: %v", err)
		}
	})

	t.Run("rotation: either secret alone verifies", func(t *testing.T) {
		t.Parallel()
		h, err := webhook.Headers(m, current, previous)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(h.Get("webhook-signature"), " ")
		if len(parts) != 2 || !strings.HasPrefix(parts[0], "v1,") || !strings.HasPrefix(parts[1], "v1,") || parts[0] == parts[1] {
			t.Fatalf("webhook-signature %q, want two different v1 signatures", h.Get("webhook-signature"))
		}
		for name, secret := range map[string]string{"current": current, "previous": previous} {
			if err := verify(secret, m.Body, h); err != nil {
				t.Errorf("a receiver on the %s secret refuses the delivery: %v", name, err)
			}
		}
		if err := verify(stranger, m.Body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("a wrong secret verified: %v", err)
		}
	})

	t.Run("the current secret signs first", func(t *testing.T) {
		t.Parallel()
		one, err := webhook.Headers(m, current)
		if err != nil {
			t.Fatal(err)
		}
		two, err := webhook.Headers(m, current, previous)
		if err != nil {
			t.Fatal(err)
		}
		if first, _, _ := strings.Cut(two.Get("webhook-signature"), " "); first != one.Get("webhook-signature") {
			t.Errorf("signatures %q do not start with the current secret's %q", two.Get("webhook-signature"), one.Get("webhook-signature"))
		}
	})
}

func TestHeadersRefuses(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	good := webhook.Message{ID: "evt_1", Timestamp: time.Now(), Body: []byte(`{}`)}
	with := func(f func(*webhook.Message)) webhook.Message {
		m := good
		f(&m)
		return m
	}
	cases := []struct {
		name    string
		m       webhook.Message
		secrets []string
	}{
		{"no secret", good, nil},
		{"a secret without the prefix", good, []string{strings.TrimPrefix(secret, "whsec_")}},
		{"a secret not in base64", good, []string{"whsec_not*base64"}},
		{"an empty secret", good, []string{"whsec_"}},
		{"a bad previous secret", good, []string{secret, "whsec_!!"}},
		{"no id", with(func(m *webhook.Message) { m.ID = "" }), []string{secret}},
		{"an id with a space", with(func(m *webhook.Message) { m.ID = "evt 1" }), []string{secret}},
		{"an id with a line break", with(func(m *webhook.Message) { m.ID = "evt_1\r\nX-Injected: 1" }), []string{secret}},
		{"a non-ASCII id", with(func(m *webhook.Message) { m.ID = "évt_1" }), []string{secret}},
		{"an id too long", with(func(m *webhook.Message) { m.ID = strings.Repeat("e", 256) }), []string{secret}},
		{"no timestamp", with(func(m *webhook.Message) { m.Timestamp = time.Time{} }), []string{secret}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h, err := webhook.Headers(c.m, c.secrets...)
			if err == nil {
				t.Fatalf("Headers = %v, want an error", h)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(secret, "whsec_")) {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}
	if _, err := webhook.Headers(with(func(m *webhook.Message) { m.ID = strings.Repeat("e", 255) }), secret); err != nil {
		t.Errorf("an id of 255 bytes refused: %v", err)
	}
}
