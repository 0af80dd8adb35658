package notifications

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// PingType is the event type of a test delivery.
const PingType = "ping"

// Envelope is the JSON body of every webhook delivery: the event's id
// (also its webhook-id header, which receivers dedupe on), its type and
// payload version, when it happened, and the payload as data.
type Envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Version   int             `json:"version"`
	Timestamp timestamp.Time  `json:"timestamp"`
	TenantID  string          `json:"tenant_id"`
	Data      json.RawMessage `json:"data"`
}

// Attempt is one try of a delivery, as the delivery log shows it.
type Attempt struct {
	AttemptedAt timestamp.Time `json:"attempted_at"`
	// StatusCode is the response's status (null: none came).
	StatusCode *int `json:"status_code"`
	LatencyMS  int  `json:"latency_ms"`
	// Error says what failed when no response came.
	Error string `json:"error"`
	// Response is the response body's first bytes (at most 1 KB).
	Response string `json:"response"`
	// Outcome: delivered, retry (another attempt is scheduled) or failed.
	Outcome string `json:"outcome"`
}

// Delivery is one event on its way to one endpoint, with its attempts.
type Delivery struct {
	ID        string  `json:"id"`
	WebhookID string  `json:"webhook_id"`
	EventID   *string `json:"event_id"`
	// MessageID is the webhook-id header: the event's id, or a ping's own.
	MessageID string `json:"message_id"`
	EventType string `json:"event_type"`
	// Status: pending (on its way, or waiting to be retried), delivered,
	// failed (given up: a permanent refusal or three days of failures).
	Status        string          `json:"status"`
	AttemptCount  int             `json:"attempt_count"`
	NextAttemptAt *timestamp.Time `json:"next_attempt_at"`
	CreatedAt     timestamp.Time  `json:"created_at"`
	FinishedAt    *timestamp.Time `json:"finished_at"`
	Attempts      []Attempt       `json:"attempts"`
}

const deliveryColumns = `id, webhook_id, event_id, message_id, event_type, status, attempts,
	CASE WHEN status = 'pending' THEN next_attempt_at END, created_at, finished_at`

func scanDelivery(row pgx.Row) (Delivery, error) {
	var d Delivery
	err := row.Scan(&d.ID, &d.WebhookID, &d.EventID, &d.MessageID, &d.EventType, &d.Status, &d.AttemptCount,
		&d.NextAttemptAt, &d.CreatedAt, &d.FinishedAt)
	d.Attempts = []Attempt{}
	return d, database.NotFound(err)
}

// MaxAttemptsShown bounds the attempts listed per delivery: the newest
// ones (a delivery retried for three days has about twenty).
const MaxAttemptsShown = 50

// ListDeliveries returns a page of an endpoint's deliveries, newest first,
// each with its attempts, oldest first. An endpoint the tenant does not
// have is ErrNotFound.
func (s *Store) ListDeliveries(ctx context.Context, tenantID, webhookID string, p database.Page) ([]Delivery, string, error) {
	var out []Delivery
	var next string
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM webhooks WHERE id = $1 AND tenant_id = $2`, webhookID, tenantID).Scan(&one); err != nil {
			return database.NotFound(err)
		}
		at, id, limit := p.Args()
		rows, err := tx.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
			WHERE tenant_id = $1 AND webhook_id = $2
			AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
			ORDER BY created_at DESC, id DESC LIMIT $5`, tenantID, webhookID, at, id, limit)
		if err != nil {
			return err
		}
		page, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Delivery, error) { return scanDelivery(r) })
		if err != nil {
			return err
		}
		out, next = database.Trim(page, p, func(d Delivery) database.Cursor { return database.Cursor{At: d.CreatedAt.Time, ID: d.ID} })
		if len(out) == 0 {
			return nil
		}
		ids := make([]string, len(out))
		index := make(map[string]int, len(out))
		for i, d := range out {
			ids[i], index[d.ID] = d.ID, i
		}
		rows, err = tx.Query(ctx, `SELECT delivery_id, attempted_at, status_code, latency_ms, error, response, outcome FROM (
				SELECT *, row_number() OVER (PARTITION BY delivery_id ORDER BY attempted_at DESC, id DESC) AS n
				FROM webhook_attempts WHERE tenant_id = $1 AND delivery_id = ANY($2::uuid[])) a
			WHERE n <= $3 ORDER BY delivery_id, attempted_at, id`, tenantID, ids, MaxAttemptsShown)
		if err != nil {
			return err
		}
		var did string
		var a Attempt
		_, err = pgx.ForEachRow(rows, []any{&did, &a.AttemptedAt, &a.StatusCode, &a.LatencyMS, &a.Error, &a.Response, &a.Outcome}, func() error {
			i := index[did]
			out[i].Attempts = append(out[i].Attempts, a)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, "", wrap("listing deliveries", err)
	}
	return out, next, nil
}

// Redeliver queues a delivery of an endpoint again, as if new: its next
// attempt is now, with a fresh retry window; its log keeps the earlier
// attempts. The same body goes out under the same webhook-id, so a
// receiver that had it already can tell. A delivery still pending is
// moved forward to now.
func (s *Store) Redeliver(ctx context.Context, tenantID, webhookID, deliveryID string, now time.Time) (Delivery, error) {
	d, err := database.One(ctx, s.db, database.Tenant(tenantID), scanDelivery, `
		UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $4, first_attempt_at = NULL,
			attempts = 0, locked_until = NULL, finished_at = NULL
		WHERE id = $1 AND webhook_id = $2 AND tenant_id = $3
		RETURNING `+deliveryColumns, deliveryID, webhookID, tenantID, now)
	return d, wrap("redelivering", err)
}

// Ping queues a test delivery of the ping event to an endpoint, whatever
// event types it wants. A disabled endpoint is delivered nothing, so its
// ping waits until it is enabled again.
func (s *Store) Ping(ctx context.Context, tenantID, webhookID string, now time.Time) (Delivery, error) {
	var d Delivery
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		var msgID string
		if err := tx.QueryRow(ctx, `SELECT 'ping_' || replace(uuid_v7()::text, '-', '') FROM webhooks
			WHERE id = $1 AND tenant_id = $2`, webhookID, tenantID).Scan(&msgID); err != nil {
			return database.NotFound(err)
		}
		data, err := json.Marshal(map[string]string{"webhook_id": webhookID})
		if err != nil {
			return err
		}
		body, err := json.Marshal(Envelope{ID: msgID, Type: PingType, Version: 1, Timestamp: timestamp.Of(now),
			TenantID: tenantID, Data: data})
		if err != nil {
			return err
		}
		d, err = scanDelivery(tx.QueryRow(ctx, `
			INSERT INTO webhook_deliveries (tenant_id, webhook_id, message_id, event_type, body, seq, next_attempt_at)
			VALUES ($1, $2, $3, $4, $5, 0, $6) RETURNING `+deliveryColumns,
			tenantID, webhookID, msgID, PingType, body, now))
		return err
	})
	if err != nil {
		return Delivery{}, wrap(fmt.Sprintf("pinging webhook %s", webhookID), err)
	}
	return d, nil
}
