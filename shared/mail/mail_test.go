package mail_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/mail"
)

func TestMessageChecks(t *testing.T) {
	t.Parallel()
	s, err := mail.NewLog(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		change func(*mail.Message)
	}{
		{"no recipient", func(m *mail.Message) { m.To = "" }},
		{"two recipients", func(m *mail.Message) { m.To = "a@acme.example, b@other.example" }},
		{"a group", func(m *mail.Message) { m.To = "team: a@acme.example, b@acme.example;" }},
		{"a line break in the recipient", func(m *mail.Message) { m.To = "a@acme.example\r\nBcc: b@other.example" }},
		{"a non-ASCII address", func(m *mail.Message) { m.To = "jürgen@acme.example" }},
		{"no subject", func(m *mail.Message) { m.Subject = " " }},
		{"a line break in the subject", func(m *mail.Message) { m.Subject = "hi\nBcc: b@other.example" }},
		{"a long subject", func(m *mail.Message) { m.Subject = strings.Repeat("s", mail.MaxSubject+1) }},
		{"invalid UTF-8 in the subject", func(m *mail.Message) { m.Subject = "a\xffb" }},
		{"no text", func(m *mail.Message) { m.Text = "" }},
		{"invalid UTF-8 in the HTML", func(m *mail.Message) { m.HTML = "\xff" }},
		{"a relative unsubscribe URL", func(m *mail.Message) { m.Unsubscribe = "/unsubscribe" }},
		{"a mailto unsubscribe URL", func(m *mail.Message) { m.Unsubscribe = "mailto:u@x.example" }},
		{"a '>' in the unsubscribe URL", func(m *mail.Message) { m.Unsubscribe = "https://x.example/a>, <https://evil.example/" }},
		{"a line break in the unsubscribe URL", func(m *mail.Message) { m.Unsubscribe = "https://x.example/\r\nBcc: b@other.example" }},
		{"user information in the unsubscribe URL", func(m *mail.Message) { m.Unsubscribe = "https://u:p@x.example/" }},
		{"an id with '@'", func(m *mail.Message) { m.ID = "a@b" }},
		{"an id with '>'", func(m *mail.Message) { m.ID = "a>b" }},
		{"an id with dots at the edge", func(m *mail.Message) { m.ID = ".a" }},
		{"a long id", func(m *mail.Message) { m.ID = strings.Repeat("a", 129) }},
	} {
		m := message()
		c.change(&m)
		err := s.Send(context.Background(), m)
		if !errors.Is(err, mail.ErrInvalidMessage) {
			t.Errorf("%s: %v, want ErrInvalidMessage", c.name, err)
		}
		if !mail.Permanent(err) {
			t.Errorf("%s: not permanent", c.name)
		}
	}
	// What is allowed: a bare address, a non-ASCII name and subject, no
	// HTML, no link, no id, an http link (make run).
	ok := mail.Message{To: "ada@acme.example", Subject: "Lizenz läuft ab", Text: "t"}
	if err := s.Send(context.Background(), ok); err != nil {
		t.Errorf("a minimal message: %v", err)
	}
	ok = message()
	ok.To = "Jürgen Groß <juergen@acme.example>"
	ok.Unsubscribe = "http://localhost:8080/unsubscribe?t=x"
	if err := s.Send(context.Background(), ok); err != nil {
		t.Errorf("a non-ASCII name and an http link: %v", err)
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection refused"), false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("smtp: RCPT TO: %w", &textproto.Error{Code: 550, Msg: "no such user"}), true},
		{fmt.Errorf("smtp: MAIL FROM: %w", &textproto.Error{Code: 554, Msg: "rejected"}), true},
		{fmt.Errorf("smtp: RCPT TO: %w", &textproto.Error{Code: 451, Msg: "try again"}), false},
		{fmt.Errorf("smtp: %w", &textproto.Error{Code: 421, Msg: "closing"}), false},
		{fmt.Errorf("wrapped: %w", mail.ErrInvalidMessage), true},
	} {
		if got := mail.Permanent(c.err); got != c.want {
			t.Errorf("Permanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
