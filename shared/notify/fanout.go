package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/notifications"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// event is one pending outbox row, as the fan-out reads it.
type event struct {
	id, tenantID, typ string
	version           int
	payload           json.RawMessage
	createdAt         time.Time
	seq               int64
}

// endpoint is what the fan-out needs of a webhook.
type endpoint struct {
	id, tenantID string
	types        []string
}

func (e endpoint) wants(eventType string) bool {
	return len(e.types) == 0 || slices.Contains(e.types, eventType)
}

// fanOut hands one batch of pending events on: for each, a delivery per
// enabled endpoint of its tenant that wants its type, and a mail per
// recipient its tenant's rules name; then marks the events delivered. All
// in one transaction: the deliveries exist, and the events are marked, or
// neither (a fan-out that dies leaves the events pending for the next).
// Rows locked by a concurrent fan-out are skipped, not waited for. It
// returns the events handed on and the deliveries and mails it queued.
func (d *Deliverer) fanOut(ctx context.Context) (events, hooks, mails int, err error) {
	err = d.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, tenant_id, type, version, payload, created_at, seq FROM outbox_events
			WHERE delivered_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, d.batch)
		if err != nil {
			return err
		}
		var evs []event
		var e event
		if _, err := pgx.ForEachRow(rows, []any{&e.id, &e.tenantID, &e.typ, &e.version, &e.payload, &e.createdAt, &e.seq}, func() error {
			evs = append(evs, e)
			return nil
		}); err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		tenants := make([]string, 0, len(evs))
		for _, e := range evs {
			if !slices.Contains(tenants, e.tenantID) {
				tenants = append(tenants, e.tenantID)
			}
		}
		who, err := readAudience(ctx, tx, tenants)
		if err != nil {
			return err
		}
		var dl deliveryRows
		var ml mailRows
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.id
			a := who[e.tenantID]
			for _, ep := range a.endpoints {
				if ep.wants(e.typ) {
					if err := dl.add(ep, e); err != nil {
						return err
					}
				}
			}
			for _, to := range a.recipients(e) {
				ml.add(e, to)
			}
			d.obs.EventHandedOn(e.typ, d.now().Sub(e.createdAt))
		}
		if hooks, err = dl.insert(ctx, tx, d.now()); err != nil {
			return fmt.Errorf("queueing webhook deliveries: %w", err)
		}
		if mails, err = ml.insert(ctx, tx, d.now()); err != nil {
			return fmt.Errorf("queueing mails: %w", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox_events SET delivered_at = now() WHERE id = ANY($1::uuid[])`, ids); err != nil {
			return err
		}
		events = len(evs)
		return nil
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("handing events on: %w", err)
	}
	return events, hooks, mails, nil
}

// audience is who hears of a tenant's events.
type audience struct {
	endpoints    []endpoint
	settings     notifications.Settings
	admins       []string
	unsubscribed map[string][]string // e-mail → event types ("*": all)
}

// recipients are the addresses mail about e goes to under the tenant's
// rules: the admins and the rule's addresses, less those who unsubscribed
// (unless the mail is essential); for an invitation, the invited person.
func (a audience) recipients(e event) []string {
	rule := a.settings.Email[e.typ]
	if !rule.Email {
		return nil
	}
	if e.typ == "member.invited" {
		var p struct {
			Member struct{ Email, Kind string } `json:"member"`
		}
		// A service account is a Google account of a program: nobody
		// reads its mail.
		if json.Unmarshal(e.payload, &p) != nil || p.Member.Email == "" || p.Member.Kind == "service_account" {
			return nil
		}
		return []string{p.Member.Email}
	}
	var out []string
	add := func(to string) {
		if to == "" || slices.Contains(out, to) {
			return
		}
		if !notifications.Essential(e.typ) {
			if u := a.unsubscribed[to]; slices.Contains(u, e.typ) || slices.Contains(u, "*") {
				return
			}
		}
		out = append(out, to)
	}
	if rule.Admins {
		for _, to := range a.admins {
			add(to)
		}
	}
	for _, to := range rule.Recipients {
		add(to)
	}
	return out
}

// readAudience reads, for each tenant, its enabled endpoints, settings,
// admins' addresses and unsubscribes.
func readAudience(ctx context.Context, tx pgx.Tx, tenants []string) (map[string]*audience, error) {
	out := make(map[string]*audience, len(tenants))
	for _, t := range tenants {
		out[t] = &audience{settings: notifications.Effective("", nil), unsubscribed: map[string][]string{}}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT id, tenant_id, event_types FROM webhooks WHERE tenant_id = ANY($1::uuid[]) AND enabled ORDER BY created_at, id`,
		tenants).Query(func(rows pgx.Rows) error {
		var ep endpoint
		_, err := pgx.ForEachRow(rows, []any{&ep.id, &ep.tenantID, &ep.types}, func() error {
			out[ep.tenantID].endpoints = append(out[ep.tenantID].endpoints, ep)
			return nil
		})
		return err
	})
	b.Queue(`SELECT tenant_id, time_zone, email_rules FROM notification_settings WHERE tenant_id = ANY($1::uuid[])`,
		tenants).Query(func(rows pgx.Rows) error {
		var t, zone string
		var rules map[string]notifications.Rule
		_, err := pgx.ForEachRow(rows, []any{&t, &zone, &rules}, func() error {
			out[t].settings = notifications.Effective(zone, rules)
			return nil
		})
		return err
	})
	b.Queue(`SELECT tenant_id, email FROM memberships WHERE tenant_id = ANY($1::uuid[]) AND role = 'admin'
		AND kind = 'person' AND deleted_at IS NULL ORDER BY created_at, id`, tenants).Query(func(rows pgx.Rows) error {
		var t, email string
		_, err := pgx.ForEachRow(rows, []any{&t, &email}, func() error {
			out[t].admins = append(out[t].admins, email)
			return nil
		})
		return err
	})
	b.Queue(`SELECT tenant_id, email, event_type FROM email_unsubscribes WHERE tenant_id = ANY($1::uuid[])`,
		tenants).Query(func(rows pgx.Rows) error {
		var t, email, typ string
		_, err := pgx.ForEachRow(rows, []any{&t, &email, &typ}, func() error {
			out[t].unsubscribed[email] = append(out[t].unsubscribed[email], typ)
			return nil
		})
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("reading who hears of events: %w", err)
	}
	return out, nil
}

// deliveryRows are webhook deliveries to insert, column by column.
type deliveryRows struct {
	tenants, webhooks, events, types, keys []string
	bodies                                 []string
	seqs                                   []int64
}

func (r *deliveryRows) add(ep endpoint, e event) error {
	body, err := json.Marshal(notifications.Envelope{ID: e.id, Type: e.typ, Version: e.version,
		Timestamp: timestamp.Of(e.createdAt), TenantID: e.tenantID, Data: e.payload})
	if err != nil {
		return fmt.Errorf("encoding event %s: %w", e.id, err)
	}
	r.tenants = append(r.tenants, e.tenantID)
	r.webhooks = append(r.webhooks, ep.id)
	r.events = append(r.events, e.id)
	r.types = append(r.types, e.typ)
	r.keys = append(r.keys, orderingKey(e.payload))
	r.bodies = append(r.bodies, string(body))
	r.seqs = append(r.seqs, e.seq)
	return nil
}

// orderingKey is the license an event is about, whose events one endpoint
// receives in order; "" orders nothing.
func orderingKey(payload json.RawMessage) string {
	var p struct {
		License struct {
			ID string `json:"id"`
		} `json:"license"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	return p.License.ID
}

func (r *deliveryRows) insert(ctx context.Context, tx pgx.Tx, now time.Time) (int, error) {
	if len(r.webhooks) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries
			(tenant_id, webhook_id, event_id, message_id, event_type, body, ordering_key, seq, next_attempt_at)
		SELECT t, w, e, e::text, ty, b::jsonb, k, s, $8
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::bigint[]) AS x(t, w, e, ty, b, k, s)
		ON CONFLICT (webhook_id, event_id) DO NOTHING`,
		r.tenants, r.webhooks, r.events, r.types, r.bodies, r.keys, r.seqs, now)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// mailRows are mails to insert.
type mailRows struct {
	tenants, events, kinds, recipients []string
}

func (r *mailRows) add(e event, to string) {
	r.tenants = append(r.tenants, e.tenantID)
	r.events = append(r.events, e.id)
	r.kinds = append(r.kinds, e.typ)
	r.recipients = append(r.recipients, to)
}

func (r *mailRows) insert(ctx context.Context, tx pgx.Tx, now time.Time) (int, error) {
	if len(r.events) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO email_messages (tenant_id, event_id, kind, recipient, next_attempt_at)
		SELECT t, e, k, r, $5 FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS x(t, e, k, r)
		ON CONFLICT DO NOTHING`, r.tenants, r.events, r.kinds, r.recipients, now)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
