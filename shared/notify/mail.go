package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/links"
	"github.com/coditect-ai/license-server/shared/mail"
	"github.com/coditect-ai/license-server/shared/notifications"
)

// MailConfig is how mails are made and sent.
type MailConfig struct {
	Sender   mail.Sender
	Renderer *mail.Renderer
	// Links signs unsubscribe and invitation links.
	Links *links.Signer
	// PublicURL is where links point (https://api.coditect.ai).
	PublicURL string
}

func (c MailConfig) check() error {
	if c.Sender == nil || c.Renderer == nil || c.Links == nil || c.PublicURL == "" {
		return errors.New("notify: incomplete mail configuration")
	}
	return nil
}

// Mail retry: from a minute, doubling, at most an hour apart, for a day.
const (
	mailFirstRetry = time.Minute
	mailMaxRetry   = time.Hour
	mailWindow     = 24 * time.Hour
	// InvitationTTL is how long an invitation link works.
	InvitationTTL = 7 * 24 * time.Hour
	// unsubscribeTTL: an unsubscribe link in an old mail still works for a
	// year.
	unsubscribeTTL = 365 * 24 * time.Hour
)

// pendingMail is a mail taken for sending.
type pendingMail struct {
	id, tenantID, kind, recipient, tenant string
	data                                  json.RawMessage
	attempts                              int
	createdAt                             time.Time
	payload                               json.RawMessage // the event's (nil for a notice)
	eventAt                               *time.Time
}

const takeMailSQL = `
WITH taken AS (
  SELECT id FROM email_messages WHERE status = 'pending' AND next_attempt_at <= $1
    AND (locked_until IS NULL OR locked_until <= $1)
  ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED
)
UPDATE email_messages m SET locked_until = $2, attempts = m.attempts + 1 FROM taken WHERE m.id = taken.id
RETURNING m.id, m.tenant_id, m.kind, m.recipient, m.data::text, m.attempts, m.created_at,
  (SELECT e.payload::text FROM outbox_events e WHERE e.id = m.event_id),
  (SELECT e.created_at FROM outbox_events e WHERE e.id = m.event_id),
  (SELECT t.name FROM tenants t WHERE t.id = m.tenant_id)`

// sendDue takes one batch of due mails, sends them and records each
// outcome; it returns how many it took.
func (d *Deliverer) sendDue(ctx context.Context, res *Result) (int, error) {
	now := d.now()
	var batch []pendingMail
	err := d.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, takeMailSQL, now, now.Add(lease), d.batch)
		if err != nil {
			return err
		}
		var m pendingMail
		var data string
		var payload, tenant *string
		_, err = pgx.ForEachRow(rows, []any{&m.id, &m.tenantID, &m.kind, &m.recipient, &data, &m.attempts, &m.createdAt,
			&payload, &m.eventAt, &tenant}, func() error {
			m.data, m.payload, m.tenant = json.RawMessage(data), nil, ""
			if payload != nil {
				m.payload = json.RawMessage(*payload)
			}
			if tenant != nil {
				m.tenant = *tenant
			}
			batch = append(batch, m)
			return nil
		})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("taking due mails: %w", err)
	}
	errs := make([]error, len(batch))
	idx := make(map[string]int, len(batch))
	for i, m := range batch {
		idx[m.id] = i
	}
	outcomes := make([]error, len(batch))
	parallel(d.workers, batch, func(m pendingMail) {
		outcomes[idx[m.id]] = d.sendOne(ctx, m)
	})
	for i, m := range batch {
		errs[i] = d.recordMail(ctx, m, outcomes[i], res)
	}
	if err := errors.Join(errs...); err != nil {
		return len(batch), fmt.Errorf("recording mails: %w", err)
	}
	return len(batch), nil
}

// sendOne renders and sends one mail.
func (d *Deliverer) sendOne(ctx context.Context, m pendingMail) error {
	kind, data, unsub, err := d.mailData(m)
	if err != nil {
		return &renderError{err}
	}
	subject, text, html, err := d.mail.Renderer.Render(kind, data)
	if err != nil {
		return &renderError{err}
	}
	return d.mail.Sender.Send(ctx, mail.Message{To: m.recipient, Subject: subject, Text: text, HTML: html,
		Unsubscribe: unsub, ID: m.id})
}

// renderError: the mail cannot be made (a payload the templates cannot
// show); retrying would not help.
type renderError struct{ err error }

func (e *renderError) Error() string { return "rendering: " + e.err.Error() }
func (e *renderError) Unwrap() error { return e.err }

// recordMail writes a mail's outcome: sent, failed (a permanent refusal,
// or a day of retries), or due again later.
func (d *Deliverer) recordMail(ctx context.Context, m pendingMail, sendErr error, res *Result) error {
	now := d.now()
	status, next, lastErr := "sent", (*time.Time)(nil), ""
	var re *renderError
	switch {
	case sendErr == nil:
		res.Sent++
	case errors.As(sendErr, &re) || mail.Permanent(sendErr):
		status, lastErr = "failed", sendErr.Error()
		res.MailFailed++
	default:
		wait := min(mailFirstRetry<<min(m.attempts-1, 10), mailMaxRetry)
		if t := now.Add(wait); t.Sub(m.createdAt) <= mailWindow {
			status, next, lastErr = "pending", &t, sendErr.Error()
			res.MailRetried++
		} else {
			status, lastErr = "failed", sendErr.Error()
			res.MailFailed++
		}
	}
	outcome := map[string]string{"sent": "sent", "pending": "retry", "failed": "failed"}[status]
	d.obs.MailAttempt(outcome)
	if status != "sent" {
		d.logger.WarnContext(ctx, "mail not sent", "mail_id", m.id, "tenant_id", m.tenantID, "kind", m.kind,
			"outcome", outcome, "error", lastErr)
	}
	return d.db.Tx(ctx, database.Tenant(m.tenantID), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE email_messages SET status = $2, locked_until = NULL,
				next_attempt_at = coalesce($3, next_attempt_at), last_error = nullif($4, ''),
				sent_at = CASE WHEN $2 = 'sent' THEN $5::timestamptz END
			WHERE id = $1`, m.id, status, next, lastErr, now)
		return err
	})
}

// payloadLicense is a license as events show it.
type payloadLicense struct {
	ID        string     `json:"id"`
	Product   string     `json:"product"`
	KeyPrefix string     `json:"key_prefix"`
	Seats     int        `json:"seats"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func (l payloadLicense) mail() mail.License {
	return mail.License{ID: l.ID, Product: l.Product, KeyPrefix: l.KeyPrefix}
}

// mailData turns a mail's event (or notice) into its template's kind and
// data. A payload a specific template cannot show falls back to the
// generic one, so the mail still goes out.
func (d *Deliverer) mailData(m pendingMail) (kind string, data any, unsub string, err error) {
	console := d.mail.PublicURL + "/console/"
	if unsub, err = d.unsubscribeURL(m); err != nil {
		return "", nil, "", err
	}
	if m.kind == "webhook.disabled" {
		var n struct {
			URL          string    `json:"url"`
			FailingSince time.Time `json:"failing_since"`
		}
		if err := json.Unmarshal(m.data, &n); err != nil {
			return "", nil, "", err
		}
		return m.kind, mail.WebhookDisabledData{Tenant: m.tenant, WebhookURL: n.URL, FailingSince: n.FailingSince,
			ConsoleURL: console + "webhooks"}, "", nil
	}
	var p struct {
		License   payloadLicense `json:"license"`
		ExpiresAt *time.Time     `json:"expires_at"`
		Days      *int           `json:"days"`
		DeniedAt  *time.Time     `json:"denied_at"`
		Since     *time.Time     `json:"high_since"`
		Seats     int            `json:"seats"`
		InUse     int            `json:"in_use"`
		Member    struct {
			ID, Email, Role, Kind string
			CreatedBy             string `json:"created_by"`
		} `json:"member"`
		WeekStart *time.Time `json:"week_start"`
		WeekEnd   *time.Time `json:"week_end"`
		Licenses  []struct {
			License   payloadLicense `json:"license"`
			PeakSeats int            `json:"peak_seats"`
			Seats     int            `json:"seats"`
			SeatHours float64        `json:"seat_hours"`
			Denials   int            `json:"denials"`
		} `json:"licenses"`
		TopUsers []struct {
			User      string  `json:"user"`
			SeatHours float64 `json:"seat_hours"`
		} `json:"top_users"`
	}
	_ = json.Unmarshal(m.payload, &p) // a payload that does not fit falls back below
	at := time.Time{}
	if m.eventAt != nil {
		at = *m.eventAt
	}
	licenseURL := console
	if p.License.ID != "" {
		licenseURL = console + "licenses/" + url.PathEscape(p.License.ID)
	}
	seats := p.Seats
	if seats == 0 {
		seats = p.License.Seats
	}
	switch {
	case m.kind == "license.expiring" && p.License.ID != "" && p.ExpiresAt != nil:
		days := 0
		if p.Days != nil {
			days = *p.Days
		}
		return m.kind, mail.ExpiringData{Tenant: m.tenant, License: p.License.mail(), ExpiresAt: *p.ExpiresAt,
			DaysLeft: max(days, 0), ConsoleURL: licenseURL, Unsubscribe: unsub}, unsub, nil
	case m.kind == "license.expired" && p.License.ID != "" && (p.ExpiresAt != nil || p.License.ExpiresAt != nil):
		exp := p.ExpiresAt
		if exp == nil {
			exp = p.License.ExpiresAt
		}
		return m.kind, mail.ExpiredData{Tenant: m.tenant, License: p.License.mail(), ExpiredAt: *exp,
			ConsoleURL: licenseURL, Unsubscribe: unsub}, unsub, nil
	case (m.kind == "seats.exhausted" || m.kind == "seats.utilization_high") && p.License.ID != "" && seats > 0:
		when := at
		if p.DeniedAt != nil {
			when = *p.DeniedAt
		}
		inUse := p.InUse
		if m.kind == "seats.exhausted" && inUse == 0 {
			inUse = seats
		}
		return m.kind, mail.SeatsData{Tenant: m.tenant, License: p.License.mail(), Seats: seats, InUse: inUse, At: when,
			ConsoleURL: licenseURL, Unsubscribe: unsub}, unsub, nil
	case m.kind == "usage.weekly_summary" && p.WeekStart != nil && p.WeekEnd != nil:
		w := mail.WeeklySummaryData{Tenant: m.tenant, WeekStart: *p.WeekStart, WeekEnd: *p.WeekEnd,
			ConsoleURL: console + "usage", Unsubscribe: unsub}
		for _, l := range p.Licenses {
			w.Licenses = append(w.Licenses, mail.LicenseUsage{License: l.License.mail(), PeakSeats: l.PeakSeats,
				Seats: l.Seats, SeatHours: l.SeatHours, Denials: l.Denials})
		}
		for _, u := range p.TopUsers {
			w.TopUsers = append(w.TopUsers, mail.UserUsage{User: u.User, SeatHours: u.SeatHours})
		}
		return m.kind, w, unsub, nil
	case m.kind == "member.invited" && p.Member.ID != "":
		exp := d.now().Add(InvitationTTL).Truncate(time.Second)
		token, err := d.mail.Links.Sign(links.PurposeInvitation,
			links.Invitation{TenantID: m.tenantID, MemberID: p.Member.ID, Expires: exp.Unix()}, InvitationTTL)
		if err != nil {
			return "", nil, "", err
		}
		return m.kind, mail.InvitationData{Tenant: m.tenant, Role: p.Member.Role, InvitedBy: invitedBy(p.Member.CreatedBy),
			AcceptURL: console + "?invitation=" + url.QueryEscape(token), ExpiresAt: exp}, "", nil
	}
	return "event", mail.EventData{Tenant: m.tenant, Type: m.kind, At: at, Fields: fields(m.payload),
		ConsoleURL: console, Unsubscribe: unsub}, unsub, nil
}

// invitedBy is who invited, as a person reads it: an e-mail address of
// the actor "user:ada@example.com", not the bootstrap token's or an API
// key's id.
func invitedBy(actor string) string {
	if after, ok := strings.CutPrefix(actor, "user:"); ok {
		return after
	}
	return ""
}

// fields are a payload's top-level scalars and its license's, for the
// generic message: enough to say what happened, never an unknown nested
// structure.
func fields(payload json.RawMessage) []mail.Field {
	var top map[string]any
	if json.Unmarshal(payload, &top) != nil {
		return nil
	}
	var out []mail.Field
	add := func(prefix string, m map[string]any) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			switch v := m[k].(type) {
			case string:
				out = append(out, mail.Field{Key: prefix + k, Value: v})
			case float64:
				out = append(out, mail.Field{Key: prefix + k, Value: strconv.FormatFloat(v, 'f', -1, 64)})
			case bool:
				out = append(out, mail.Field{Key: prefix + k, Value: strconv.FormatBool(v)})
			}
		}
	}
	add("", top)
	for _, nested := range []string{"license", "member", "api_key", "workstation"} {
		if m, ok := top[nested].(map[string]any); ok {
			add(nested+".", m)
		}
	}
	if len(out) > 30 {
		out = out[:30]
	}
	return out
}

// unsubscribeURL is the one-click link of a non-essential mail ("" for an
// essential one).
func (d *Deliverer) unsubscribeURL(m pendingMail) (string, error) {
	if notifications.Essential(m.kind) || m.kind == "webhook.disabled" {
		return "", nil
	}
	token, err := d.mail.Links.Sign(links.PurposeUnsubscribe,
		links.Unsubscribe{TenantID: m.tenantID, Email: m.recipient, EventType: m.kind}, unsubscribeTTL)
	if err != nil {
		return "", fmt.Errorf("signing the unsubscribe link: %w", err)
	}
	return d.mail.PublicURL + "/v1/notifications/unsubscribe?token=" + url.QueryEscape(token), nil
}
