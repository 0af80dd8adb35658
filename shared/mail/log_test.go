package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"testing"

	"github.com/coditect-ai/license-server/shared/mail"
)

func TestLogSenderWritesTheMessage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	s, err := mail.NewLog(slog.New(slog.NewJSONHandler(&buf, nil)))
	if err != nil {
		t.Fatal(err)
	}
	m := message()
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf.String())
	}
	want := map[string]any{
		"level": "INFO", "msg": "mail",
		"to": `"Ada Lovelace" <ada@acme.example>`, "subject": m.Subject, "text": m.Text,
		"id": m.ID, "unsubscribe": m.Unsubscribe,
	}
	for k, v := range want {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v", k, rec[k], v)
		}
	}

	// It refuses what the other senders refuse, and logs nothing then.
	buf.Reset()
	m.Subject = "two\r\nBcc: x@evil.example"
	if err := s.Send(context.Background(), m); !errors.Is(err, mail.ErrInvalidMessage) {
		t.Errorf("bad subject: %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("a refused message was logged: %s", buf.String())
	}

	if _, err := mail.NewLog(nil); err == nil {
		t.Error("NewLog(nil) succeeded")
	}
}
