package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// Notify settings: what the notification functions (Notifications, the
// admin API of webhooks and settings; Notify, which delivers) need.
type Notify struct {
	// SecretsKey (NOTIFY_SECRETS_KEY, base64 of 32 bytes, a secret://
	// reference in production) seals webhooks' signing secrets at rest:
	// the database holds only ciphertext.
	SecretsKey []byte
	// LinkKey (NOTIFY_LINK_KEY, base64 of at least 32 bytes) signs the
	// links mails carry (unsubscribe, invitation), so they work without
	// signing in and cannot be forged.
	LinkKey []byte
	// Topic (NOTIFY_TOPIC, projects/P/topics/T) is where a function
	// publishes "events are waiting" right after a commit that appended
	// some, so Notify delivers within seconds; "" publishes nothing and
	// the minute sweep delivers.
	Topic string
	// SendGridAPIKey (SENDGRID_API_KEY) sends mail through SendGrid's v3
	// Mail Send API; SendGridURL (SENDGRID_URL) is its base URL.
	SendGridAPIKey, SendGridURL string
	// SMTPAddr (SMTP_ADDR, host:port) sends mail over SMTP instead, when
	// no SendGrid key is set. Neither: mails are written to the log.
	SMTPAddr string
	// MailFrom (MAIL_FROM) is the sender address.
	MailFrom string
	// PublicURL (PUBLIC_URL) is where links in mails point.
	PublicURL string
	// MailToLog (MAIL_TO_LOG) lets Notify write mails to its log when
	// neither SendGrid nor SMTP is configured: make run's default. Off,
	// Notify refuses to start without a mail sender, since a logged
	// invitation link is a credential for whoever reads the log.
	MailToLog bool
	// WebhookAllowHTTP (WEBHOOK_ALLOW_HTTP) accepts http:// webhook URLs
	// (make run, for a receiver on this machine); never in production.
	WebhookAllowHTTP bool
	// WebhookAllowCIDRs (WEBHOOK_ALLOW_CIDRS, comma-separated) are address
	// ranges a webhook may reach although they are internal (loopback,
	// private...). Empty in production.
	WebhookAllowCIDRs []netip.Prefix
}

// DefaultMailFrom is MAIL_FROM when unset.
const DefaultMailFrom = "Coditect Licenses <notifications@coditect.ai>"

func notifyKeys() []string {
	return []string{"NOTIFY_SECRETS_KEY", "NOTIFY_LINK_KEY", "NOTIFY_TOPIC", "SENDGRID_API_KEY", "SENDGRID_URL",
		"SMTP_ADDR", "MAIL_FROM", "MAIL_TO_LOG", "PUBLIC_URL", "WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_CIDRS"}
}

func loadNotify(get Lookup) (Notify, error) {
	n := Notify{Topic: str(get, "NOTIFY_TOPIC", ""), SendGridAPIKey: str(get, "SENDGRID_API_KEY", ""),
		SendGridURL: str(get, "SENDGRID_URL", "https://api.sendgrid.com"), SMTPAddr: str(get, "SMTP_ADDR", ""),
		MailFrom: str(get, "MAIL_FROM", DefaultMailFrom), PublicURL: strings.TrimRight(str(get, "PUBLIC_URL", "https://api.coditect.ai"), "/")}
	var errs []error
	var err error
	if n.SecretsKey, err = key(get, "NOTIFY_SECRETS_KEY", 32, 32); err != nil {
		errs = append(errs, err)
	}
	if n.LinkKey, err = key(get, "NOTIFY_LINK_KEY", 32, 128); err != nil {
		errs = append(errs, err)
	}
	if n.MailToLog, err = boolean(get, "MAIL_TO_LOG"); err != nil {
		errs = append(errs, err)
	}
	if n.WebhookAllowHTTP, err = boolean(get, "WEBHOOK_ALLOW_HTTP"); err != nil {
		errs = append(errs, err)
	}
	for _, c := range strings.Split(str(get, "WEBHOOK_ALLOW_CIDRS", ""), ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("WEBHOOK_ALLOW_CIDRS: %q is not an address range", c))
			continue
		}
		n.WebhookAllowCIDRs = append(n.WebhookAllowCIDRs, p.Masked())
	}
	if n.Topic != "" && !validTopic(n.Topic) {
		errs = append(errs, errors.New("NOTIFY_TOPIC must be projects/<project>/topics/<topic>"))
	}
	if u, err := url.Parse(n.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("PUBLIC_URL must be an http(s) URL"))
	}
	return n, errors.Join(errs...)
}

func validTopic(t string) bool {
	p := strings.Split(t, "/")
	return len(p) == 4 && p[0] == "projects" && p[1] != "" && p[2] == "topics" && p[3] != ""
}

// key reads a base64 key of min to max bytes (nil when unset).
func key(get Lookup, k string, minLen, maxLen int) ([]byte, error) {
	v := strings.TrimSpace(str(get, k, ""))
	if v == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(v); err != nil {
			return nil, fmt.Errorf("%s must be base64", k)
		}
	}
	if len(b) < minLen || len(b) > maxLen {
		return nil, fmt.Errorf("%s must be %d to %d bytes once decoded, not %d", k, minLen, maxLen, len(b))
	}
	return b, nil
}
