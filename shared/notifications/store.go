// Package notifications is the admin side of notifications (schema/011): a
// tenant's webhook endpoints, their delivery log, redelivery and test
// pings, the per-tenant notification settings (who is e-mailed about what,
// the weekly summary's time zone) and the unsubscribes that e-mails' links
// record. Delivering is shared/notify's.
package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// SecretOverlap is how long a rotated-out signing secret still signs, so
// receivers can move to the new one without losing a delivery.
const SecretOverlap = 24 * time.Hour

// Webhook is one endpoint, as the API shows it (never its secret).
type Webhook struct {
	ID          string   `json:"id"`
	TenantID    string   `json:"tenant_id"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	EventTypes  []string `json:"event_types"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason is "failing" when the service disabled it after three
	// days of failed deliveries; null otherwise.
	DisabledReason *string `json:"disabled_reason"`
	// FailingSince: when the current run of failed deliveries began.
	FailingSince *timestamp.Time `json:"failing_since"`
	// PreviousSecretExpiresAt: during a rotation, until when the previous
	// secret still signs.
	PreviousSecretExpiresAt *timestamp.Time `json:"previous_secret_expires_at"`
	CreatedBy               string          `json:"created_by"`
	CreatedAt               timestamp.Time  `json:"created_at"`
	UpdatedAt               timestamp.Time  `json:"updated_at"`
}

// Fields are what a create or update sets; nil leaves a field alone.
type Fields struct {
	URL, Description *string
	EventTypes       *[]string
	Enabled          *bool
}

// Secrets seals signing secrets for storage and makes new ones: the key
// never reaches the database.
type Secrets interface {
	New() (string, error)
	Seal(webhookID, secret string) ([]byte, error)
}

// Store reads and writes a tenant's notification settings and webhooks.
type Store struct {
	db      *database.DB
	secrets Secrets
}

// NewStore returns a store on db; secrets seals the signing secrets.
func NewStore(db *database.DB, secrets Secrets) (*Store, error) {
	if db == nil || secrets == nil {
		return nil, errors.New("notifications: missing dependency")
	}
	return &Store{db: db, secrets: secrets}, nil
}

const webhookColumns = `id, tenant_id, url, description, event_types, enabled, disabled_reason, failing_since,
	previous_secret_expires_at, created_by, created_at, updated_at`

func scanWebhook(row pgx.Row) (Webhook, error) {
	var w Webhook
	err := row.Scan(&w.ID, &w.TenantID, &w.URL, &w.Description, &w.EventTypes, &w.Enabled, &w.DisabledReason,
		&w.FailingSince, &w.PreviousSecretExpiresAt, &w.CreatedBy, &w.CreatedAt, &w.UpdatedAt)
	return w, database.NotFound(err)
}

// CreateWebhook adds an endpoint to a live tenant and returns it with its
// signing secret, which is shown this once.
func (s *Store) CreateWebhook(ctx context.Context, tenantID string, f Fields) (Webhook, string, error) {
	secret, err := s.secrets.New()
	if err != nil {
		return Webhook{}, "", fmt.Errorf("making a signing secret: %w", err)
	}
	var w Webhook
	err = s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		// The id is the sealing's additional data, so it is made first.
		var id string
		if err := tx.QueryRow(ctx, `SELECT uuid_v7()::text FROM tenants WHERE id = $1 AND status <> 'deleted'`,
			tenantID).Scan(&id); err != nil {
			return database.NotFound(err)
		}
		sealed, err := s.secrets.Seal(id, secret)
		if err != nil {
			return fmt.Errorf("sealing the signing secret: %w", err)
		}
		types := []string{}
		if f.EventTypes != nil {
			types = *f.EventTypes
		}
		w, err = scanWebhook(tx.QueryRow(ctx, `
			INSERT INTO webhooks (id, tenant_id, url, description, event_types, enabled, secret, created_by)
			VALUES ($1, $2, $3, coalesce($4, ''), $5, coalesce($6, true), $7, $8)
			RETURNING `+webhookColumns,
			id, tenantID, deref(f.URL), f.Description, types, f.Enabled, sealed, database.ActorOf(ctx)))
		return err
	})
	if err != nil {
		return Webhook{}, "", wrap("creating webhook", err)
	}
	return w, secret, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// wrap adds what failed, leaving ErrNotFound recognisable.
func wrap(what string, err error) error {
	if err == nil || errors.Is(err, database.ErrNotFound) {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// GetWebhook returns one endpoint of a tenant.
func (s *Store) GetWebhook(ctx context.Context, tenantID, id string) (Webhook, error) {
	w, err := database.One(ctx, s.db, database.Tenant(tenantID), scanWebhook,
		`SELECT `+webhookColumns+` FROM webhooks WHERE id = $1 AND tenant_id = $2`, id, tenantID)
	return w, wrap("reading webhook", err)
}

// ListWebhooks returns a page of a tenant's endpoints, oldest first.
func (s *Store) ListWebhooks(ctx context.Context, tenantID string, p database.Page) ([]Webhook, string, error) {
	out, next, err := database.List(ctx, s.db, database.Tenant(tenantID), p,
		func(w Webhook) database.Cursor { return database.Cursor{At: w.CreatedAt.Time, ID: w.ID} }, scanWebhook,
		`SELECT `+webhookColumns+` FROM webhooks WHERE tenant_id = $1
			AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
			ORDER BY created_at, id LIMIT $4`, tenantID)
	if err != nil {
		return nil, "", fmt.Errorf("listing webhooks: %w", err)
	}
	return out, next, nil
}

// UpdateWebhook changes an endpoint. Enabling it clears why it was
// disabled and its run of failures: an admin who enables it again asks for
// deliveries to be tried again.
func (s *Store) UpdateWebhook(ctx context.Context, tenantID, id string, f Fields) (Webhook, error) {
	var types []string
	if f.EventTypes != nil {
		types = *f.EventTypes
	}
	w, err := database.One(ctx, s.db, database.Tenant(tenantID), scanWebhook, `
		UPDATE webhooks SET
			url = coalesce($3, url), description = coalesce($4, description),
			event_types = CASE WHEN $5::boolean THEN $6::text[] ELSE event_types END,
			enabled = coalesce($7, enabled),
			disabled_reason = CASE WHEN $7 IS NOT NULL THEN NULL ELSE disabled_reason END,
			failing_since = CASE WHEN $7 AND NOT enabled THEN NULL ELSE failing_since END,
			updated_at = now()
		WHERE id = $1 AND tenant_id = $2
		RETURNING `+webhookColumns, id, tenantID, f.URL, f.Description, f.EventTypes != nil, types, f.Enabled)
	return w, wrap("updating webhook", err)
}

// DeleteWebhook removes an endpoint, with its deliveries and their log.
func (s *Store) DeleteWebhook(ctx context.Context, tenantID, id string) error {
	_, err := database.One(ctx, s.db, database.Tenant(tenantID), scanWebhook,
		`DELETE FROM webhooks WHERE id = $1 AND tenant_id = $2 RETURNING `+webhookColumns, id, tenantID)
	return wrap("deleting webhook", err)
}

// RotateSecret gives an endpoint a new signing secret, returned this once;
// the one it replaces keeps signing too for SecretOverlap from now. A
// second rotation within the overlap drops the oldest.
func (s *Store) RotateSecret(ctx context.Context, tenantID, id string, now time.Time) (Webhook, string, error) {
	secret, err := s.secrets.New()
	if err != nil {
		return Webhook{}, "", fmt.Errorf("making a signing secret: %w", err)
	}
	sealed, err := s.secrets.Seal(id, secret)
	if err != nil {
		return Webhook{}, "", fmt.Errorf("sealing the signing secret: %w", err)
	}
	w, err := database.One(ctx, s.db, database.Tenant(tenantID), scanWebhook, `
		UPDATE webhooks SET previous_secret = secret, previous_secret_expires_at = $3,
			secret = $4, updated_at = now()
		WHERE id = $1 AND tenant_id = $2
		RETURNING `+webhookColumns, id, tenantID, now.Add(SecretOverlap), sealed)
	if err != nil {
		return Webhook{}, "", wrap("rotating webhook secret", err)
	}
	return w, secret, nil
}
