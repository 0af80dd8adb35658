package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/links"
	"github.com/coditect-ai/license-server/shared/mail"
	"github.com/coditect-ai/license-server/shared/notify"
	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/webhook"
)

// Product names the service in mail subjects.
const Product = "Coditect Licenses"

// Spec is the function as the entry points deploy it: a CloudEvent
// function on the background database role (it reads every tenant's
// outbox), with the notification keys. The backend is built on Redis and
// PostgreSQL together, so it declares both, though it uses no Redis.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleCleanup, Notify: true},
		Event: func(d function.Deps) (function.EventHandler, error) {
			var obs notify.Observer
			if d.Backend.Metrics != nil {
				obs = d.Backend.Metrics
			}
			deliverer, err := Deliverer(d.Notify, d.Backend.DB, d.Logger, obs, outbound.Policy{})
			if err != nil {
				return nil, err
			}
			store, err := outbox.NewStore(d.Backend.DB)
			if err != nil {
				return nil, err
			}
			f, err := New(deliverer, scheduler{store}, nil, d.Logger)
			if err != nil {
				return nil, err
			}
			return f.Handle, nil
		}}
}

// Deliverer builds the deliverer c configures: webhooks through the
// SSRF-guarded client (base's Resolver and RootCAs, for tests; c's
// allowances); mail through SendGrid (SENDGRID_API_KEY), else SMTP
// (SMTP_ADDR), else the log. obs (nil: none) is told what happens.
func Deliverer(c config.Notify, db *database.DB, logger *slog.Logger, obs notify.Observer, base outbound.Policy) (*notify.Deliverer, error) {
	sealer, err := webhook.NewSealer(c.SecretsKey)
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_SECRETS_KEY: %w", err)
	}
	signer, err := links.NewSigner(c.LinkKey, nil)
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_LINK_KEY: %w", err)
	}
	base.AllowHTTP = c.WebhookAllowHTTP
	base.Allow = append(base.Allow, c.WebhookAllowCIDRs...)
	hooks, err := webhook.NewSender(outbound.NewClient(base), time.Now)
	if err != nil {
		return nil, err
	}
	sender, err := MailSender(c, logger)
	if err != nil {
		return nil, err
	}
	renderer, err := mail.NewRenderer(Product)
	if err != nil {
		return nil, err
	}
	return notify.New(notify.Config{DB: db, Webhooks: hooks, Secrets: sealer, Logger: logger, Observer: obs,
		Mail: notify.MailConfig{Sender: sender, Renderer: renderer, Links: signer, PublicURL: c.PublicURL}})
}

// MailSender is the mail sender c configures: SendGrid, else SMTP, else
// the log if c allows it (make run), else an error.
func MailSender(c config.Notify, logger *slog.Logger) (mail.Sender, error) {
	switch {
	case c.SendGridAPIKey != "":
		// SendGrid's address is ours to configure, not a user's: an
		// ordinary client, with a deadline.
		s, err := mail.NewSendGrid(c.SendGridAPIKey, c.MailFrom, &http.Client{Timeout: 30 * time.Second}, c.SendGridURL)
		if err != nil {
			return nil, fmt.Errorf("configuring SendGrid: %w", err)
		}
		return s, nil
	case c.SMTPAddr != "":
		s, err := mail.NewSMTP(c.SMTPAddr, c.MailFrom)
		if err != nil {
			return nil, fmt.Errorf("configuring SMTP: %w", err)
		}
		return s, nil
	case !c.MailToLog:
		return nil, errors.New("no mail sender: set SENDGRID_API_KEY or SMTP_ADDR (MAIL_TO_LOG=true writes mails, invitation links included, to the log)")
	}
	return mail.NewLog(logger)
}

type scheduler struct{ s *outbox.Store }

func (s scheduler) Schedule(ctx context.Context, now time.Time) error {
	_, err := s.s.Schedule(ctx, now)
	return err
}
