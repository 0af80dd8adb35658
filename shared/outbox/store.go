// Package outbox is the typed view of the notification outbox
// (schema/010): events appended by triggers in the same transaction as the
// admin change that caused them, read here by whoever delivers them. The
// events the service derives (schema/012: seat events, expiry, weekly
// summaries) are produced here too, by the background role, through the
// database's functions, each with a dedupe key so a repeated run adds
// nothing; an admin change's event can only come from its trigger.
package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
)

// Types is the event catalogue, in the order schema/010's CHECK lists it
// (a test holds them equal).
var Types = []string{
	"license.created", "license.updated", "license.suspended", "license.resumed",
	"license.deleted", "license.key_rotated", "license.expiring", "license.expired",
	"seats.exhausted", "seats.utilization_high", "seats.utilization_normal",
	"session.revoked", "workstation.blocked", "workstation.unblocked",
	"member.invited", "member.removed", "api_key.created", "api_key.revoked",
	"usage.weekly_summary", "license.overage_entered", "license.overage_exited",
	"billing.payment_failed", "license.renewed",
}

// Event is one outbox row.
type Event struct {
	ID       string
	TenantID string
	Type     string
	// Version is the payload's version: a receiver reads Payload by
	// (Type, Version).
	Version int
	Payload json.RawMessage
	// DedupeKey names a scheduled or ledger-derived event ("" for an admin
	// change's).
	DedupeKey   string
	CreatedAt   time.Time
	DeliveredAt *time.Time
}

// Store reads the outbox and marks events delivered.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("outbox: nil database")
	}
	return &Store{db: db}, nil
}

const columns = `id, tenant_id, type, version, payload, coalesce(dedupe_key, ''), created_at, delivered_at`

func scan(row pgx.Row) (Event, error) {
	var e Event
	err := row.Scan(&e.ID, &e.TenantID, &e.Type, &e.Version, &e.Payload, &e.DedupeKey, &e.CreatedAt, &e.DeliveredAt)
	return e, err
}

// pendingSQL reads the pending events of the scope (row-level security
// limits it to the scope's tenant, or none), oldest first. $1: the limit.
const pendingSQL = `SELECT ` + columns + ` FROM outbox_events WHERE delivered_at IS NULL
	ORDER BY created_at, id LIMIT $1`

// Pending returns up to limit events of scope not yet delivered, oldest
// first.
func (s *Store) Pending(ctx context.Context, scope database.Scope, limit int) ([]Event, error) {
	out, err := database.All(ctx, s.db, scope, scan, pendingSQL, limit)
	if err != nil {
		return nil, fmt.Errorf("reading pending events: %w", err)
	}
	return out, nil
}

// Deliver takes up to limit pending events of scope, oldest first, locked
// so that a concurrent Deliver skips them (FOR UPDATE SKIP LOCKED), and
// hands them to deliver; the ids it returns are marked delivered in the
// same transaction, which commits only if deliver returned no error. An
// event deliver does not return stays pending for the next run. Only the
// cleanup role, which delivers, may lock and mark events.
func (s *Store) Deliver(ctx context.Context, scope database.Scope, limit int,
	deliver func(ctx context.Context, events []Event) (delivered []string, err error)) (int, error) {
	var n int
	err := s.db.Tx(ctx, scope, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, pendingSQL+` FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) { return scan(r) })
		if err != nil || len(events) == 0 {
			return err
		}
		ids, err := deliver(ctx, events)
		if err != nil {
			return err
		}
		n, err = markDelivered(ctx, tx, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delivering events: %w", err)
	}
	return n, nil
}

// MarkDelivered marks the pending events of scope named by ids delivered,
// and returns how many it marked (an id already delivered, or another
// tenant's, is not counted).
func (s *Store) MarkDelivered(ctx context.Context, scope database.Scope, ids []string) (int, error) {
	var n int
	err := s.db.Tx(ctx, scope, func(tx pgx.Tx) error {
		var err error
		n, err = markDelivered(ctx, tx, ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("marking events delivered: %w", err)
	}
	return n, nil
}

func markDelivered(ctx context.Context, tx pgx.Tx, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tag, err := tx.Exec(ctx, `UPDATE outbox_events SET delivered_at = now()
		WHERE id = ANY($1::uuid[]) AND delivered_at IS NULL`, ids)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// ScheduleResult says what a scheduled run added.
type ScheduleResult struct {
	Expiring  int // license.expiring notices
	Expired   int // license.expired
	Summaries int // usage.weekly_summary, one per tenant due
}

// Schedule adds the scheduled events due at now: the expiry notices (30,
// 7 and 1 days before a license's end, each once per end), the expiries
// (within a week of the end) and the weekly summaries (each tenant's, on
// its first run after Monday 08:00 in its time zone). Each has a dedupe
// key, so running it again, or twice at once, adds nothing. Only the
// background role may.
func (s *Store) Schedule(ctx context.Context, now time.Time) (ScheduleResult, error) {
	var r ScheduleResult
	err := s.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT expiring, expired FROM license_expiry_emit($1)`, now).
			Scan(&r.Expiring, &r.Expired); err != nil {
			return fmt.Errorf("expiry: %w", err)
		}
		if err := tx.QueryRow(ctx, `SELECT weekly_summary_emit($1)`, now).Scan(&r.Summaries); err != nil {
			return fmt.Errorf("weekly summaries: %w", err)
		}
		return nil
	})
	if err != nil {
		return ScheduleResult{}, fmt.Errorf("scheduling events: %w", err)
	}
	return r, nil
}

// TickSeatAlerts samples every license's open sessions (as the ledger has
// them) at now and adds seats.utilization_high for a license at 90 % or
// more of its seats for 10 minutes, and seats.utilization_normal when it
// falls below again; it returns how many events it added. The cleanup
// calls it after its drain, so the sample is as fresh as the ledger.
// (seats.exhausted needs no call: the drain's insert derives it.)
func (s *Store) TickSeatAlerts(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT seat_alerts_tick($1)`, now).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("sampling seat use: %w", err)
	}
	return n, nil
}
