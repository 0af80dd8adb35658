package notifications

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/outbox"
)

// Rule says who is e-mailed about one event type.
type Rule struct {
	// Email: the type is e-mailed at all.
	Email bool `json:"email"`
	// Admins: to every admin of the tenant (by membership). For
	// member.invited the invited person is the recipient instead.
	Admins bool `json:"admins"`
	// Recipients: further addresses (a team list, an on-call alias).
	Recipients []string `json:"recipients"`
}

// Settings are a tenant's notification settings.
type Settings struct {
	// TimeZone is the IANA zone the weekly summary is sent in (Monday
	// 08:00 there).
	TimeZone string `json:"time_zone"`
	// Email holds a rule for every event type of the catalogue.
	Email map[string]Rule `json:"email"`
}

// OnByDefault are the types e-mailed to a tenant's admins until an admin
// says otherwise: what a person would not want to miss (an invitation goes
// to the invited person).
var onByDefault = []string{"license.expiring", "seats.exhausted", "usage.weekly_summary", "member.invited", "billing.payment_failed"}

// DefaultRule is the rule of an event type no admin has changed.
func DefaultRule(eventType string) Rule {
	on := slices.Contains(onByDefault, eventType)
	return Rule{Email: on, Admins: on, Recipients: []string{}}
}

// Essential reports whether mail about an event type cannot be
// unsubscribed from: an invitation is the one way in, and is sent once.
func Essential(eventType string) bool { return eventType == "member.invited" }

// MaxRecipients bounds a rule's further addresses.
const MaxRecipients = 20

// Effective is the settings with every type's rule: the stored overrides
// over the defaults.
func Effective(timeZone string, overrides map[string]Rule) Settings {
	out := Settings{TimeZone: timeZone, Email: make(map[string]Rule, len(outbox.Types))}
	if out.TimeZone == "" {
		out.TimeZone = "UTC"
	}
	for _, t := range outbox.Types {
		r, ok := overrides[t]
		if !ok {
			r = DefaultRule(t)
		}
		if r.Recipients == nil {
			r.Recipients = []string{}
		}
		out.Email[t] = r
	}
	return out
}

// Settings returns a tenant's effective settings.
func (s *Store) Settings(ctx context.Context, tenantID string) (Settings, error) {
	var out Settings
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		var err error
		out, err = readSettings(ctx, tx, tenantID)
		return err
	})
	return out, wrap("reading notification settings", err)
}

func readSettings(ctx context.Context, tx pgx.Tx, tenantID string) (Settings, error) {
	var zone *string
	var rules map[string]Rule
	err := tx.QueryRow(ctx, `SELECT s.time_zone, s.email_rules FROM tenants t
		LEFT JOIN notification_settings s ON s.tenant_id = t.id WHERE t.id = $1 AND t.status <> 'deleted'`,
		tenantID).Scan(&zone, &rules)
	if err != nil {
		return Settings{}, database.NotFound(err)
	}
	z := ""
	if zone != nil {
		z = *zone
	}
	return Effective(z, rules), nil
}

// UpdateSettings changes the time zone (when timeZone is not "") and the
// rules given (the rest keep theirs), and returns the effective settings.
// The caller checks the zone and the rules.
func (s *Store) UpdateSettings(ctx context.Context, tenantID, timeZone string, rules map[string]Rule) (Settings, error) {
	var out Settings
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		cur, err := readSettings(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if timeZone != "" {
			cur.TimeZone = timeZone
		}
		// Stored: only the rules that differ from their default, so a
		// default changed later reaches every tenant that kept it.
		merged := maps.Clone(cur.Email)
		maps.Copy(merged, rules)
		stored := map[string]Rule{}
		for t, r := range merged {
			if !sameRule(r, DefaultRule(t)) {
				stored[t] = r
			}
		}
		doc, err := json.Marshal(stored)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notification_settings (tenant_id, time_zone, email_rules)
			VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE
			SET time_zone = excluded.time_zone, email_rules = excluded.email_rules, updated_at = now()`,
			tenantID, cur.TimeZone, doc); err != nil {
			return err
		}
		out = Effective(cur.TimeZone, stored)
		return nil
	})
	return out, wrap("updating notification settings", err)
}

func sameRule(a, b Rule) bool {
	return a.Email == b.Email && a.Admins == b.Admins && slices.Equal(a.Recipients, b.Recipients)
}

// ValidTimeZone reports whether name is an IANA time zone this build knows.
func ValidTimeZone(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil && name != "Local"
}

// Unsubscribe records that email wants no more mail of a tenant about an
// event type ("*": none of the non-essential ones). Doing it twice is
// doing it once.
func (s *Store) Unsubscribe(ctx context.Context, tenantID, email, eventType string) error {
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO email_unsubscribes (tenant_id, email, event_type)
			SELECT id, $2, $3 FROM tenants WHERE id = $1 ON CONFLICT DO NOTHING`, tenantID, email, eventType)
		return err
	})
	if err != nil {
		return fmt.Errorf("recording unsubscribe: %w", err)
	}
	return nil
}

// Invitation is what an invitation link stands for.
type Invitation struct {
	TenantID   string `json:"tenant_id"`
	TenantName string `json:"tenant_name"`
	Email      string `json:"email"`
	Role       string `json:"role"`
	// Accepted: the invited person has signed in (the link is spent).
	Accepted bool `json:"-"`
}

// Invitation returns a live membership of a live tenant as its invitation
// (ErrNotFound: removed, or never was).
func (s *Store) Invitation(ctx context.Context, tenantID, memberID string) (Invitation, error) {
	inv, err := database.One(ctx, s.db, database.Tenant(tenantID), func(row pgx.Row) (Invitation, error) {
		var i Invitation
		err := row.Scan(&i.TenantID, &i.TenantName, &i.Email, &i.Role, &i.Accepted)
		return i, database.NotFound(err)
	}, `SELECT t.id, t.name, m.email, m.role, m.bound_at IS NOT NULL FROM memberships m JOIN tenants t ON t.id = m.tenant_id
		WHERE m.id = $1 AND m.tenant_id = $2 AND m.deleted_at IS NULL AND t.status <> 'deleted'`, memberID, tenantID)
	return inv, wrap("reading invitation", err)
}
