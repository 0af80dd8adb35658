// Package usage is the usage ledger in PostgreSQL: it stores the seat
// events drained from Redis exactly once, keeps the intervals in which each
// session held a seat, derived from them, and computes usage reports (peak
// concurrent seats, seat-hours, denials) from those rows.
package usage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/repositories"
	"github.com/coditect-ai/license-server/shared/seats"
)

// ErrUnknownLicense: the events name a license PostgreSQL does not have, so
// they belong to no tenant and cannot be stored.
var ErrUnknownLicense = errors.New("usage: events of an unknown license")

// Store reads and writes the ledger.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("usage: nil database")
	}
	return &Store{db: db}, nil
}

// recordSQL inserts a batch of one license's events and applies them to the
// sessions' intervals, in one statement. ON CONFLICT makes an entry drained
// twice (a drain that died after committing, before trimming Redis) a no-op,
// and only the rows actually inserted touch usage_sessions.
//
// usage_sessions holds one row per interval in which a session held a seat:
// acquired and revived open one; released, expired, revoked and
// linger_ended close it. A release into a linger (reason linger) and a
// reattach close nothing: the seat counts on through them. In stream order
// (the order the scripts wrote them) a session's opens and closes
// alternate, so each open in the batch ends at the event after it, if that
// is a close, and a close that comes first in the batch ends the interval
// an earlier batch left open. The statement's parts see one snapshot, so
// that update never touches an interval this batch inserts.
//
// Overage: an acquired event marked overage opens an overage interval,
// overage until the session's reclassified event (overage_until) or its
// end. A session is reclassified at most once (only its acquired interval
// can be overage, and an entitled session is never demoted), while its
// acquired interval is open, so a reclassified event sets overage_until of
// the interval this batch opens if its acquired event is in the batch, else
// of the open one; that is the same UPDATE as the close (one statement may
// change a row only once). overage_entered and overage_exited name no
// session and are stored as events only.
//
// Borrow: borrowed and borrow_extended are stored with their borrowed_until
// and touch no interval (the session holds its seat on through them, until
// the expired event the sweep records at the borrow's end); returned closes
// the interval like a release.
//
// Plan stability: the open interval a close ends is looked up per touched
// session through usage_sessions_open_ref (license_id, session_ref), in a
// LATERAL subquery that OFFSET 0 keeps from being flattened into a join the
// planner could turn round, and updated by its ctid. So no plan reads all
// of a license's open sessions, however many it has and whatever the
// estimates said when the plan was made and cached (BENCHMARKS.md, "The
// ledger drain under skew"). Only the drain updates usage_sessions and an
// entry drained twice inserts nothing the second time, so a row found this
// way does not change before the UPDATE reaches it; were it to, its new
// version has another ctid and is left alone, as an interval already
// closed.
const recordSQL = `
WITH e AS (
  SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::timestamptz[],
                       $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::boolean[],
                       $14::timestamptz[])
    AS e(stream_id, kind, session_ref, at, fingerprint, user_name, hostname, repository, reason, actor, overage,
         borrowed_until)
), ins AS (
  INSERT INTO usage_events (license_id, stream_id, tenant_id, kind, session_ref, at,
                            fingerprint, user_name, hostname, repository, reason, actor, overage, borrowed_until)
  SELECT $1, stream_id, $2, kind, session_ref, at, fingerprint, user_name, hostname, repository, reason, actor, overage,
         borrowed_until FROM e
  ON CONFLICT DO NOTHING
  RETURNING stream_id, kind, session_ref, at, fingerprint, user_name, hostname, repository, reason, overage
), iv AS (
  SELECT session_ref, kind, at, fingerprint, user_name, hostname, repository, overage,
         kind IN ('acquired', 'revived') AS opens,
         lead(kind) OVER w AS next_kind, lead(at) OVER w AS next_at,
         row_number() OVER w AS pos
  FROM ins
  WHERE kind IN ('acquired', 'revived', 'expired', 'revoked', 'linger_ended', 'returned')
     OR (kind = 'released' AND reason <> 'linger')
  WINDOW w AS (PARTITION BY session_ref
               ORDER BY split_part(stream_id, '-', 1)::bigint, split_part(stream_id, '-', 2)::bigint)
), rc AS (
  SELECT session_ref, min(at) AS at,
         EXISTS (SELECT 1 FROM iv WHERE iv.session_ref = r.session_ref AND iv.kind = 'acquired') AS opened_here
  FROM ins r WHERE kind = 'reclassified' GROUP BY session_ref
), started AS (
  INSERT INTO usage_sessions (license_id, session_ref, tenant_id, fingerprint, user_name, hostname,
                              repository, started_at, ended_at, end_kind, overage, overage_until)
  SELECT $1, session_ref, $2, fingerprint, user_name, hostname, repository, at,
         CASE WHEN next_kind NOT IN ('acquired', 'revived') THEN next_at END,
         CASE WHEN next_kind NOT IN ('acquired', 'revived') THEN next_kind END,
         kind = 'acquired' AND overage,
         CASE WHEN kind = 'acquired' AND overage THEN (SELECT rc.at FROM rc WHERE rc.session_ref = iv.session_ref) END
  FROM iv WHERE opens
  ON CONFLICT DO NOTHING
), touch AS (
  SELECT coalesce(c.session_ref, r.session_ref) AS session_ref, c.at AS end_at, c.kind AS end_kind, r.at AS rc_at
  FROM (SELECT session_ref, at, kind FROM iv WHERE pos = 1 AND NOT opens) c
  FULL JOIN (SELECT session_ref, at FROM rc WHERE NOT opened_here) r ON r.session_ref = c.session_ref
), target AS (
  SELECT x.end_at, x.end_kind, x.rc_at, o.row_id
  FROM touch x CROSS JOIN LATERAL (
    SELECT s.ctid AS row_id FROM usage_sessions s
    WHERE s.license_id = $1 AND s.session_ref = x.session_ref AND s.ended_at IS NULL
    OFFSET 0) o
), closed AS (
  UPDATE usage_sessions s SET
    ended_at = coalesce(t.end_at, s.ended_at),
    end_kind = coalesce(t.end_kind, s.end_kind),
    overage_until = CASE WHEN s.overage AND t.rc_at IS NOT NULL THEN t.rc_at ELSE s.overage_until END
  FROM target t
  WHERE s.ctid = t.row_id
)
SELECT count(*) FROM ins`

// Record stores one license's events; it returns how many were new. Events
// already stored are skipped, so recording a batch again changes nothing.
func (s *Store) Record(ctx context.Context, licenseID string, events []seats.Event) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	n, unknown, err := s.RecordAll(ctx, []Batch{{LicenseID: licenseID, Events: events}})
	if err == nil && len(unknown) > 0 {
		err = fmt.Errorf("record usage of %s: %w", licenseID, ErrUnknownLicense)
	}
	return n, err
}

// Batch is one license's events.
type Batch struct {
	LicenseID string
	Events    []seats.Event
}

// RecordAll stores the events of many licenses in one transaction (one
// commit, one round trip), as Record does for one. It returns how many were
// new and the licenses PostgreSQL does not know, whose events it left out.
func (s *Store) RecordAll(ctx context.Context, batches []Batch) (int, []string, error) {
	ids := make([]string, 0, len(batches))
	for _, b := range batches {
		for _, ev := range b.Events {
			if ev.LicenseID != b.LicenseID {
				return 0, nil, fmt.Errorf("usage: event of license %s in a batch of %s", ev.LicenseID, b.LicenseID)
			}
		}
		if len(b.Events) > 0 {
			ids = append(ids, b.LicenseID)
		}
	}
	if len(ids) == 0 {
		return 0, nil, nil
	}
	var inserted int
	var unknown []string
	err := s.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id::text, tenant_id::text FROM licenses WHERE id = ANY($1::uuid[])`, ids)
		if err != nil {
			return err
		}
		tenants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
			var p [2]string
			return p, r.Scan(&p[0], &p[1])
		})
		if err != nil {
			return err
		}
		tenantOf := make(map[string]string, len(tenants))
		for _, p := range tenants {
			tenantOf[p[0]] = p[1]
		}
		b := &pgx.Batch{}
		// No sequential scan in the drain: recordSQL finds every row it
		// changes through an index or by its ctid, and a plan that reads
		// the whole ledger instead would only be chosen on estimates made
		// while the table was small, then cached by the connection and kept
		// as it grows (BENCHMARKS.md, "The ledger drain under skew"). This
		// holds whatever the statistics, generic plan or custom, for the
		// transaction only; a statement with no other path still runs.
		b.Queue(`SET LOCAL enable_seqscan = off`)
		for _, batch := range batches {
			if len(batch.Events) == 0 {
				continue
			}
			tenantID, ok := tenantOf[batch.LicenseID]
			if !ok {
				unknown = append(unknown, batch.LicenseID)
				continue
			}
			b.Queue(recordSQL, recordArgs(batch.LicenseID, tenantID, batch.Events)...).QueryRow(func(r pgx.Row) error {
				var n int
				err := r.Scan(&n)
				inserted += n
				return err
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, nil, fmt.Errorf("record usage: %w", err)
	}
	return inserted, unknown, nil
}

// recordArgs are recordSQL's arguments for one license's events.
func recordArgs(licenseID, tenantID string, events []seats.Event) []any {
	n := len(events)
	ids, kinds, refs := make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	fps, users, hosts, repos, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	actors, overage := make([]string, n), make([]bool, n)
	borrowed := make([]*time.Time, n)
	for i, ev := range events {
		ids[i], kinds[i], refs[i], ats[i] = ev.ID, ev.Kind, ev.SessionRef, ev.At
		fps[i], users[i], hosts[i], reasons[i] = ev.Fingerprint, ev.User, ev.Hostname, ev.Reason
		repos[i], actors[i], overage[i] = ev.Repository, ev.Actor, ev.Overage
		if !ev.BorrowedUntil.IsZero() {
			until := ev.BorrowedUntil
			borrowed[i] = &until
		}
		if norm, err := repositories.Normalize(ev.Repository); err == nil {
			// One remote written several ways is one repository in reports.
			repos[i] = norm
		}
	}
	return []any{licenseID, tenantID, ids, kinds, refs, ats, fps, users, hosts, repos, reasons, actors, overage, borrowed}
}
