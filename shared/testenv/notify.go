package testenv

import (
	"crypto/rand"
	"encoding/base64"
	"net/netip"
	"testing"

	"github.com/coditect-ai/license-server/shared/config"
)

// Notify is a notification configuration for tests: fresh keys, links to
// https://api.test, mail to the log (allowed), and webhooks allowed to reach
// receivers on this machine over plain HTTP (httptest servers), which
// production never allows.
func Notify(t testing.TB) config.Notify {
	t.Helper()
	key := func() []byte {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	return config.Notify{SecretsKey: key(), LinkKey: key(), MailFrom: config.DefaultMailFrom, PublicURL: "https://api.test",
		SendGridURL: "https://api.sendgrid.invalid", MailToLog: true, WebhookAllowHTTP: true,
		WebhookAllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
}

// NotifyEnv is Notify's keys as a process's environment: what the
// production entry point needs to serve Notifications or Notify (or every
// function at once).
func NotifyEnv(t testing.TB) []string {
	t.Helper()
	n := Notify(t)
	return []string{"NOTIFY_SECRETS_KEY=" + base64.StdEncoding.EncodeToString(n.SecretsKey),
		"NOTIFY_LINK_KEY=" + base64.StdEncoding.EncodeToString(n.LinkKey), "MAIL_TO_LOG=true"}
}
