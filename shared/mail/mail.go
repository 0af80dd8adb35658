// Package mail sends the service's notification e-mails: a Message (one
// recipient, a plain-text and an HTML part, an optional one-click
// unsubscribe link) goes out through a Sender: SendGrid's v3 Mail Send API
// in production, any SMTP server, or the log for make run. It also renders
// the messages from embedded templates (Renderer) and signs the links they
// carry (Signer).
//
// # One recipient per message
//
// A Message has exactly one To address and no CC or BCC: notifications go
// to people of different tenants, and a single message to several of them
// would show each one the others' addresses. Callers send one message per
// person.
//
// # Retries
//
// A Sender does not retry: the caller (the outbox deliverer) does, and
// Permanent tells it which errors are not worth another attempt (a refused
// request, a rejected address). Message.ID is the notification's id, so a
// retried message carries the same id: SendGrid records it as a custom
// argument and SMTP derives the Message-ID from it, which lets receivers
// and the event log recognise a duplicate.
//
// # Headers
//
// Every value that reaches a header (the address, the subject, the
// unsubscribe URL, the id) is checked before anything is sent: a line
// break in a tenant-supplied string would otherwise add headers of its
// choosing (header injection). Such a message is refused with an error
// wrapping ErrInvalidMessage, which is permanent.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Message is one e-mail to one person.
type Message struct {
	// To is the one recipient: an address, optionally with a display name
	// ("Ada <ada@example.com>"). Never a list: see the package comment.
	To string
	// Subject is the subject line; at most MaxSubject characters, no line
	// breaks.
	Subject string
	// Text is the plain-text part; required.
	Text string
	// HTML is the HTML part; "" sends the text part alone.
	HTML string
	// Unsubscribe is a one-click unsubscribe URL (http or https) for
	// non-essential messages, "" for essential ones (invitations, a webhook
	// endpoint disabled). When set, the message carries List-Unsubscribe:
	// <url> and List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC
	// 8058), so mail clients offer their own unsubscribe button, which
	// POSTs to the URL.
	Unsubscribe string
	// ID is the notification's stable id (letters, digits, '.', '-', '_'),
	// the same on every retry: SendGrid's custom_args notification_id, and
	// the local part of the SMTP Message-ID. "" gives SMTP a random
	// Message-ID and SendGrid no custom argument.
	ID string
}

// Sender sends messages. Implementations are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// MaxSubject bounds a subject, in characters: it keeps the encoded header
// well under SMTP's line limit and under what mail clients show anyway.
const MaxSubject = 250

// maxID bounds Message.ID; a UUID is 36 characters.
const maxID = 128

// ErrInvalidMessage is wrapped by every refusal of a Message before it is
// sent (a bad address, a line break in the subject, ...). It is permanent:
// sending the same message again cannot succeed.
var ErrInvalidMessage = errors.New("mail: invalid message")

// unsubscribePost is the List-Unsubscribe-Post value RFC 8058 prescribes.
const unsubscribePost = "List-Unsubscribe=One-Click"

// Permanent reports whether err is not worth retrying: a message this
// package refused (ErrInvalidMessage), a SendGrid answer of 400, 401, 403
// or 413 (the request, the key or the size is wrong and stays wrong), or an
// SMTP reply in the 5xx range (a permanent negative completion, RFC 5321
// 4.2.1). Everything else (timeouts, refused connections, SendGrid 429 and
// 5xx, SMTP 4xx) may succeed later.
func Permanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidMessage) {
		return true
	}
	var sg *sendGridError
	if errors.As(err, &sg) {
		switch sg.status {
		case 400, 401, 403, 413:
			return true
		}
		return false
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code >= 500 && reply.Code <= 599
	}
	return false
}

// checked is a Message that passed check: its recipient parsed.
type checked struct {
	Message
	to *mail.Address
}

// check refuses a message whose values cannot go into headers safely.
func check(m Message) (checked, error) {
	to, err := parseAddress(m.To)
	if err != nil {
		return checked{}, fmt.Errorf("%w: recipient: %v", ErrInvalidMessage, err)
	}
	if err := checkSubject(m.Subject); err != nil {
		return checked{}, err
	}
	if m.Text == "" {
		return checked{}, fmt.Errorf("%w: empty text part", ErrInvalidMessage)
	}
	if !utf8.ValidString(m.Text) || !utf8.ValidString(m.HTML) {
		return checked{}, fmt.Errorf("%w: a body part is not valid UTF-8", ErrInvalidMessage)
	}
	if m.Unsubscribe != "" {
		if err := checkLink(m.Unsubscribe); err != nil {
			return checked{}, fmt.Errorf("%w: unsubscribe URL: %v", ErrInvalidMessage, err)
		}
	}
	if err := checkID(m.ID); err != nil {
		return checked{}, err
	}
	return checked{Message: m, to: to}, nil
}

// parseAddress accepts exactly one address, ASCII only: neither net/smtp
// nor SendGrid's API is given SMTPUTF8 here, and an internationalised
// domain must come in its ASCII (punycode) form.
func parseAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, err
	}
	for _, r := range a.Address {
		if r > 0x7e || r < 0x21 {
			return nil, fmt.Errorf("address %q is not printable ASCII", a.Address)
		}
	}
	return a, nil
}

func checkSubject(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%w: empty subject", ErrInvalidMessage)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: subject is not valid UTF-8", ErrInvalidMessage)
	case utf8.RuneCountInString(s) > MaxSubject:
		return fmt.Errorf("%w: subject longer than %d characters", ErrInvalidMessage, MaxSubject)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: subject contains a control character", ErrInvalidMessage)
		}
	}
	return nil
}

// checkLink accepts an absolute http or https URL made only of printable
// ASCII without '<' or '>', so it can stand between the angle brackets of
// List-Unsubscribe as it is.
func checkLink(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '<' || c == '>' {
			return errors.New("contains a space, a control character, '<', '>' or non-ASCII")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("contains user information")
	}
	return nil
}

func checkID(id string) error {
	if len(id) > maxID {
		return fmt.Errorf("%w: id longer than %d characters", ErrInvalidMessage, maxID)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return fmt.Errorf("%w: id may hold only letters, digits, '.', '-' and '_'", ErrInvalidMessage)
		}
	}
	if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".") || strings.Contains(id, "..") {
		// The id is the dot-atom left of the '@' in Message-ID (RFC 5322 3.6.4).
		return fmt.Errorf("%w: id may not start or end with '.' or hold '..'", ErrInvalidMessage)
	}
	return nil
}
