package mail_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/mail"
)

const smtpFrom = "Licences Ü <noreply@licenses.example>"

func newSMTP(t *testing.T, addr string, opts ...mail.SMTPOption) *mail.SMTP {
	t.Helper()
	s, err := mail.NewSMTP(addr, smtpFrom, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSMTPDeliversToMailpit sends one full message in the clear (the
// server offers no STARTTLS) and reads it back through mailpit's API.
func TestSMTPDeliversToMailpit(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t)
	date := time.Date(2026, 11, 12, 9, 30, 0, 0, time.UTC)
	s := newSMTP(t, mp.smtp, mail.WithClock(func() time.Time { return date }))
	m := mail.Message{
		To:      "Jürgen Groß <juergen@acme.example>",
		Subject: "[Seats] Lizenz „CAD Pro“ läuft in 7 Tagen ab — bitte verlängern ✓",
		// A long line, a line that starts with a dot (SMTP dot-stuffing),
		// '=' (quoted-printable's escape) and non-ASCII text.
		Text:        "Hallo Jürgen,\n\n" + strings.Repeat("lang ", 40) + "\n.a line starting with a dot\n= 100% sicher\n",
		HTML:        `<p style="margin:0">Hallo <strong>Jürgen</strong>, 5 &lt; 7 =&gt; ok</p>`,
		Unsubscribe: "https://console.example.com/unsubscribe?t=abc.def",
		ID:          "0b7e3c1a-2f4d-4e5a-9b8c-1d2e3f4a5b6c",
	}
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v\nmailpit's output:\n%s", err, mp.out)
	}

	list := mp.waitMessages(t, 1)
	if len(list) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1", len(list))
	}
	got := mp.message(t, list[0].ID)
	if got.From != (mpAddress{Name: "Licences Ü", Address: "noreply@licenses.example"}) {
		t.Errorf("From %+v", got.From)
	}
	if len(got.To) != 1 || got.To[0] != (mpAddress{Name: "Jürgen Groß", Address: "juergen@acme.example"}) {
		t.Errorf("To %+v", got.To)
	}
	if len(got.Cc) != 0 || len(got.Bcc) != 0 {
		t.Errorf("Cc %+v, Bcc %+v: want none", got.Cc, got.Bcc)
	}
	if got.Subject != m.Subject {
		t.Errorf("Subject %q, want %q (decoded)", got.Subject, m.Subject)
	}
	// Mail has CRLF line ends: the sender turns "\n" into "\r\n".
	if crlfToLF(got.Text) != m.Text {
		t.Errorf("text part\n got %q\nwant %q", got.Text, m.Text)
	}
	if strings.TrimSpace(got.HTML) != m.HTML {
		t.Errorf("HTML part\n got %q\nwant %q", got.HTML, m.HTML)
	}
	if got.MessageID != m.ID+"@licenses.example" {
		t.Errorf("Message-ID %q, want %s@licenses.example", got.MessageID, m.ID)
	}
	if got.ListUnsubscribe.Header != "<"+m.Unsubscribe+">" || got.ListUnsubscribe.HeaderPost != "List-Unsubscribe=One-Click" ||
		got.ListUnsubscribe.Errors != "" || len(got.ListUnsubscribe.Links) != 1 || got.ListUnsubscribe.Links[0] != m.Unsubscribe {
		t.Errorf("mailpit's reading of List-Unsubscribe: %+v", got.ListUnsubscribe)
	}

	h := mp.headers(t, list[0].ID)
	for name, want := range map[string]string{
		"List-Unsubscribe":      "<" + m.Unsubscribe + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		"Message-Id":            "<" + m.ID + "@licenses.example>",
		"Mime-Version":          "1.0",
		"Date":                  "Thu, 12 Nov 2026 09:30:00 +0000",
	} {
		if v := h[name]; len(v) != 1 || v[0] != want {
			t.Errorf("header %s = %q, want [%q]", name, v, want)
		}
	}
	if ct := h["Content-Type"]; len(ct) != 1 || !strings.HasPrefix(ct[0], "multipart/alternative; boundary=") {
		t.Errorf("Content-Type %q, want multipart/alternative", ct)
	}
	for _, absent := range []string{"Cc", "Bcc"} {
		if v, ok := h[absent]; ok {
			t.Errorf("header %s = %q, want none", absent, v)
		}
	}

	// On the wire: the subject RFC 2047-encoded, lines within limits, the
	// text part before the HTML part.
	raw := mp.raw(t, list[0].ID)
	if !strings.Contains(raw, "Subject: =?utf-8?q?") {
		t.Errorf("the subject is not Q-encoded:\n%s", raw)
	}
	for i, line := range strings.Split(raw, "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d is %d bytes long", i+1, len(line))
		}
	}
	textAt, htmlAt := strings.Index(raw, "Content-Type: text/plain"), strings.Index(raw, "Content-Type: text/html")
	if textAt < 0 || htmlAt < 0 || textAt > htmlAt {
		t.Errorf("the parts are not text then HTML (text at %d, HTML at %d)", textAt, htmlAt)
	}
}

// TestSMTPWithSTARTTLSAndAuth sends through a server that requires
// STARTTLS and authentication, with a certificate of a private CA.
func TestSMTPWithSTARTTLSAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	roots := writeServerCert(t, dir)
	auth := filepath.Join(dir, "smtp-users")
	if err := os.WriteFile(auth, []byte("relay:s3cret-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mp := startMailpit(t,
		"--smtp-tls-cert", filepath.Join(dir, "cert.pem"), "--smtp-tls-key", filepath.Join(dir, "key.pem"),
		"--smtp-require-starttls", "--smtp-auth-file", auth)
	m := message()
	m.HTML = "" // a text-only message: no multipart

	s := newSMTP(t, mp.smtp, mail.WithTLSConfig(&tls.Config{RootCAs: roots}), mail.WithPlainAuth("relay", "s3cret-pass"), mail.WithRequireTLS())
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v\nmailpit's output:\n%s", err, mp.out)
	}
	list := mp.waitMessages(t, 1)
	if list[0].Username != "relay" {
		t.Errorf("mailpit saw user %q, want relay", list[0].Username)
	}
	got := mp.message(t, list[0].ID)
	if crlfToLF(got.Text) != m.Text || got.HTML != "" {
		t.Errorf("text %q, HTML %q", got.Text, got.HTML)
	}
	if ct := mp.headers(t, list[0].ID)["Content-Type"]; len(ct) != 1 || ct[0] != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}

	// A wrong password: 535, permanent.
	bad := newSMTP(t, mp.smtp, mail.WithTLSConfig(&tls.Config{RootCAs: roots}), mail.WithPlainAuth("relay", "wrong"))
	err := bad.Send(context.Background(), m)
	if err == nil || !mail.Permanent(err) || strings.Contains(err.Error(), "wrong") {
		t.Errorf("wrong password: %v, want a permanent error without the password", err)
	}

	// The system's roots do not know the private CA: the handshake fails,
	// nothing is sent, and it is worth retrying (the fix is configuration,
	// not the message).
	untrusted := newSMTP(t, mp.smtp, mail.WithPlainAuth("relay", "s3cret-pass"))
	err = untrusted.Send(context.Background(), m)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) || mail.Permanent(err) {
		t.Errorf("an untrusted certificate: %v, want a temporary x509.UnknownAuthorityError", err)
	}
	if n := len(mp.messages(t)); n != 1 {
		t.Errorf("mailpit holds %d messages, want 1", n)
	}
}

// TestSMTPRefusals: what the server refuses, and what the sender refuses
// before it sends.
func TestSMTPRefusals(t *testing.T) {
	t.Parallel()
	mp := startMailpit(t, "--smtp-allowed-recipients", `@acme\.example$`)

	m := message()
	m.To = "someone@other.example"
	err := newSMTP(t, mp.smtp).Send(context.Background(), m)
	if err == nil || !mail.Permanent(err) || !strings.Contains(err.Error(), "550") {
		t.Errorf("a recipient the server refuses: %v, want a permanent 550", err)
	}

	// No STARTTLS offered, TLS required: nothing is sent.
	err = newSMTP(t, mp.smtp, mail.WithRequireTLS()).Send(context.Background(), message())
	if err == nil || mail.Permanent(err) || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("TLS required of a server without STARTTLS: %v", err)
	}

	// Authentication configured but no TLS to protect it: net/smtp
	// refuses to send the password in the clear to anything but localhost,
	// and mailpit offers no AUTH without TLS; either way nothing is sent.
	err = newSMTP(t, mp.smtp, mail.WithPlainAuth("relay", "pw")).Send(context.Background(), message())
	if err == nil {
		t.Error("authentication without TLS succeeded")
	}

	// Header injection through the message is refused before dialling.
	m = message()
	m.Subject = "hi\r\nBcc: victim@acme.example"
	if err := newSMTP(t, mp.smtp).Send(context.Background(), m); !errors.Is(err, mail.ErrInvalidMessage) {
		t.Errorf("a line break in the subject: %v", err)
	}
	if n := len(mp.messages(t)); n != 0 {
		t.Errorf("mailpit holds %d messages, want none", n)
	}
}

// TestSMTPDeadline: a server that accepts the connection and never
// greets holds the sender only until the context's deadline.
func TestSMTPDeadline(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	s := newSMTP(t, l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, message())
	if !errors.Is(err, context.DeadlineExceeded) || mail.Permanent(err) {
		t.Errorf("a silent server: %v, want a temporary context.DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Send returned after %v", took)
	}

	// The sender's own timeout applies when the context has none.
	s = newSMTP(t, l.Addr().String(), mail.WithTimeout(200*time.Millisecond))
	if err := s.Send(context.Background(), message()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the sender's timeout: %v", err)
	}

	// Cancelling aborts the conversation.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := newSMTP(t, l.Addr().String()).Send(ctx, message()); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled send: %v", err)
	}
}

// TestSMTPSpeaksOnlyWhatItMust reads the conversation with a scripted
// server: EHLO, no STARTTLS on offer, MAIL, RCPT for the one recipient,
// DATA, QUIT.
func TestSMTPSpeaksOnlyWhatItMust(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	commands := make(chan []string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var seen []string
		r := bufio.NewReader(c)
		reply := func(s string) { _, _ = c.Write([]byte(s + "\r\n")) }
		reply("220 fake ESMTP")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				commands <- seen
				return
			}
			line = strings.TrimRight(line, "\r\n")
			seen = append(seen, line)
			switch {
			case strings.HasPrefix(line, "EHLO"):
				reply("250-fake\r\n250 8BITMIME")
			case line == "DATA":
				reply("354 go on")
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
				}
				reply("250 queued")
			case line == "QUIT":
				reply("221 bye")
				commands <- seen
				return
			default:
				reply("250 ok")
			}
		}
	}()
	if err := newSMTP(t, l.Addr().String()).Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	want := []string{"EHLO localhost", "MAIL FROM:<noreply@licenses.example> BODY=8BITMIME", "RCPT TO:<ada@acme.example>", "DATA", "QUIT"}
	if got := <-commands; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("commands\n got %q\nwant %q", got, want)
	}
}

func crlfToLF(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestNewSMTP(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, addr, from string
		opts             []mail.SMTPOption
	}{
		{"no port", "smtp.example.com", "a@b.example", nil},
		{"no from", "smtp.example.com:587", "", nil},
		{"two froms", "smtp.example.com:587", "a@b.example, c@d.example", nil},
		{"user without password", "smtp.example.com:587", "a@b.example", []mail.SMTPOption{mail.WithPlainAuth("u", "")}},
		{"zero timeout", "smtp.example.com:587", "a@b.example", []mail.SMTPOption{mail.WithTimeout(0)}},
		{"nil TLS config", "smtp.example.com:587", "a@b.example", []mail.SMTPOption{mail.WithTLSConfig(nil)}},
		{"nil clock", "smtp.example.com:587", "a@b.example", []mail.SMTPOption{mail.WithClock(nil)}},
	} {
		if _, err := mail.NewSMTP(c.addr, c.from, c.opts...); err == nil {
			t.Errorf("%s: NewSMTP succeeded", c.name)
		}
	}
}

// writeServerCert writes cert.pem and key.pem into dir: a certificate for
// 127.0.0.1 and localhost signed by a CA made here, whose pool it returns.
func writeServerCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mailpit"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "PRIVATE KEY", keyDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return pool
}
