package testenv

import (
	"crypto/rand"
	"net/netip"
	"testing"

	"github.com/coditect-ai/license-server/shared/config"
)

// Notify is a notification configuration for tests: fresh keys, links to
// https://api.test, mail to the log, and webhooks allowed to reach
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
		SendGridURL: "https://api.sendgrid.invalid", WebhookAllowHTTP: true,
		WebhookAllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
}
