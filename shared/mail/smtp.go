package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// DefaultSMTPTimeout bounds one delivery (dialling, the whole SMTP
// conversation) when the context has no earlier deadline.
const DefaultSMTPTimeout = 30 * time.Second

// SMTP sends through an SMTP server (a relay such as SendGrid's, a
// company's own, or mailpit in tests), one connection per message.
type SMTP struct {
	addr       string
	host       string
	from       *mail.Address
	domain     string // the sender's domain, the right side of Message-IDs
	tls        *tls.Config
	requireTLS bool
	username   string
	password   string
	timeout    time.Duration
	now        func() time.Time
}

// SMTPOption configures NewSMTP.
type SMTPOption func(*SMTP)

// WithTLSConfig sets the configuration for STARTTLS (RootCAs for a
// private CA, a minimum version, ...). Its ServerName, when empty, is the
// host of the address. Without it, the system's roots verify the server.
func WithTLSConfig(c *tls.Config) SMTPOption {
	return func(s *SMTP) { s.tls = c.Clone() }
}

// WithRequireTLS refuses to send when the server does not offer STARTTLS,
// instead of sending in the clear: someone on the path can strip the offer
// from the server's greeting (a downgrade), so a relay known to support
// TLS should be held to it.
func WithRequireTLS() SMTPOption {
	return func(s *SMTP) { s.requireTLS = true }
}

// WithPlainAuth authenticates with AUTH PLAIN. net/smtp sends the
// password only over TLS or to localhost, so a server that does not offer
// STARTTLS gets nothing.
func WithPlainAuth(username, password string) SMTPOption {
	return func(s *SMTP) { s.username, s.password = username, password }
}

// WithTimeout replaces DefaultSMTPTimeout.
func WithTimeout(d time.Duration) SMTPOption {
	return func(s *SMTP) { s.timeout = d }
}

// WithClock replaces time.Now for the Date header (tests).
func WithClock(now func() time.Time) SMTPOption {
	return func(s *SMTP) { s.now = now }
}

// NewSMTP returns a sender to the SMTP server at addr (host:port), from the
// address from (which may carry a display name). STARTTLS is used whenever
// the server offers it.
func NewSMTP(addr, from string, opts ...SMTPOption) (*SMTP, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP address %q: %w", addr, err)
	}
	sender, err := parseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: sender address: %w", err)
	}
	at := strings.LastIndexByte(sender.Address, '@')
	s := &SMTP{
		addr:    addr,
		host:    host,
		from:    sender,
		domain:  sender.Address[at+1:],
		tls:     &tls.Config{},
		timeout: DefaultSMTPTimeout,
		now:     time.Now,
	}
	for _, o := range opts {
		o(s)
	}
	if s.tls == nil {
		return nil, errors.New("mail: nil TLS configuration")
	}
	if s.tls.ServerName == "" {
		s.tls.ServerName = host
	}
	if s.tls.MinVersion < tls.VersionTLS12 {
		s.tls.MinVersion = tls.VersionTLS12
	}
	if s.timeout <= 0 {
		return nil, fmt.Errorf("mail: SMTP timeout %v is not positive", s.timeout)
	}
	if s.now == nil {
		return nil, errors.New("mail: nil clock")
	}
	if (s.username == "") != (s.password == "") {
		return nil, errors.New("mail: SMTP authentication needs both a user name and a password")
	}
	return s, nil
}

// Send delivers m: it dials, upgrades with STARTTLS when offered,
// authenticates when configured, and sends one message to one recipient.
// The context bounds all of it (its deadline, or the sender's timeout if
// earlier); cancelling it aborts the conversation.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	c, err := check(m)
	if err != nil {
		return err
	}
	msg, err := s.compose(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.deliver(ctx, c.to.Address, msg)
	if err != nil {
		if cerr := contextError(ctx); cerr != nil {
			// The deadline or the cancellation shows as an I/O error on
			// the connection; say what really happened.
			return fmt.Errorf("smtp: %s: %w (%v)", s.addr, cerr, err)
		}
	}
	return err
}

// contextError is ctx.Err(), or DeadlineExceeded once the deadline has
// passed: the connection's deadline can fire a moment before the
// context's own timer does.
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (s *SMTP) deliver(ctx context.Context, to string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp: dialling %s: %w", s.addr, err)
	}
	defer conn.Close()
	// net/smtp knows no contexts: the deadline holds every read and write
	// to the context's, and a cancellation moves it to the past, which
	// fails whatever is blocked.
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return fmt.Errorf("smtp: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	client, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp: greeting from %s: %w", s.addr, err)
	}
	defer client.Close()
	if ok, _ := client.Extension("STARTTLS"); ok {
		if err := client.StartTLS(s.tls.Clone()); err != nil {
			return fmt.Errorf("smtp: STARTTLS with %s: %w", s.addr, err)
		}
	} else if s.requireTLS {
		return fmt.Errorf("smtp: %s does not offer STARTTLS and TLS is required", s.addr)
	}
	if s.username != "" {
		if ok, _ := client.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp: %s does not offer AUTH", s.addr)
		}
		if err := client.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return fmt.Errorf("smtp: authenticating to %s: %w", s.addr, err)
		}
	}
	if err := client.Mail(s.from.Address); err != nil {
		return fmt.Errorf("smtp: MAIL FROM: %w", err)
	}
	if err := client.Rcpt(to); err != nil {
		return fmt.Errorf("smtp: RCPT TO: %w", err)
	}
	w, err := client.Data()
	if err != nil {
		return fmt.Errorf("smtp: DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("smtp: writing the message: %w", err)
	}
	// Close ends the data and reads the server's verdict on the message.
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp: end of DATA: %w", err)
	}
	// The message is accepted; a failed QUIT changes nothing about that.
	_ = client.Quit()
	return nil
}

// compose writes the message: headers, then a multipart/alternative body
// with the text part first and the HTML part last (clients show the last
// part they can display, RFC 2046 5.1.4), both quoted-printable UTF-8.
func (s *SMTP) compose(c checked) ([]byte, error) {
	id := c.ID
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		id = hex.EncodeToString(b[:])
	}
	var buf bytes.Buffer
	header := func(name, value string) { buf.WriteString(name + ": " + value + "\r\n") }
	header("From", s.from.String())
	header("To", c.to.String())
	header("Subject", encodeSubject(c.Subject))
	header("Date", s.now().Format(time.RFC1123Z))
	header("Message-ID", "<"+id+"@"+s.domain+">")
	header("MIME-Version", "1.0")
	if c.Unsubscribe != "" {
		header("List-Unsubscribe", "<"+c.Unsubscribe+">")
		header("List-Unsubscribe-Post", unsubscribePost)
	}
	if c.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		buf.WriteString("\r\n")
		if err := writeQP(&buf, c.Text); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	mw := multipart.NewWriter(&buf)
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	buf.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", c.Text}, {"text/html", c.HTML}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, fmt.Errorf("smtp: composing the message: %w", err)
		}
		if err := writeQP(w, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("smtp: composing the message: %w", err)
	}
	return buf.Bytes(), nil
}

func writeQP(w interface{ Write([]byte) (int, error) }, body string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(body)); err != nil {
		return fmt.Errorf("smtp: encoding a part: %w", err)
	}
	if err := qp.Close(); err != nil {
		return fmt.Errorf("smtp: encoding a part: %w", err)
	}
	return nil
}

// encodeSubject encodes a subject that is not plain ASCII as RFC 2047
// encoded words (mime.QEncoding leaves plain ASCII as it is), folding the
// line between words so a long non-ASCII subject stays within the 78
// characters a header line should keep to.
func encodeSubject(s string) string {
	return strings.ReplaceAll(mime.QEncoding.Encode("utf-8", s), "?= =?", "?=\r\n =?")
}
