// Package usage is the usage ledger in PostgreSQL: it stores the seat
// events drained from Redis exactly once, keeps one row per session derived
// from them, and computes usage reports (peak concurrent seats, seat-hours,
// denials) from those rows.
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
// sessions, in one statement. ON CONFLICT makes an entry drained twice (a
// drain that died after committing, before trimming Redis) a no-op, and only
// the rows actually inserted touch usage_sessions. The statement's parts see
// one snapshot, so a session that starts and ends in the same batch is
// inserted already closed rather than updated.
const recordSQL = `
WITH e AS (
  SELECT * FROM unnest($3::text[], $4::text[], $5::text[], $6::timestamptz[],
                       $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
    AS e(stream_id, kind, session_ref, at, fingerprint, user_name, hostname, repository, reason, actor)
), ins AS (
  INSERT INTO usage_events (license_id, stream_id, tenant_id, kind, session_ref, at,
                            fingerprint, user_name, hostname, repository, reason, actor)
  SELECT $1, stream_id, $2, kind, session_ref, at, fingerprint, user_name, hostname, repository, reason, actor FROM e
  ON CONFLICT DO NOTHING
  RETURNING kind, session_ref, at, fingerprint, user_name, hostname, repository
), ends AS (
  SELECT DISTINCT ON (session_ref) session_ref, kind, at FROM ins
  WHERE kind IN ('released', 'expired', 'revoked') ORDER BY session_ref, at
), started AS (
  INSERT INTO usage_sessions (license_id, session_ref, tenant_id, fingerprint, user_name, hostname,
                              repository, started_at, ended_at, end_kind)
  SELECT $1, a.session_ref, $2, a.fingerprint, a.user_name, a.hostname, a.repository, a.at, x.at, x.kind
  FROM ins a LEFT JOIN ends x USING (session_ref) WHERE a.kind = 'acquired'
  ON CONFLICT DO NOTHING
), closed AS (
  UPDATE usage_sessions s SET ended_at = x.at, end_kind = x.kind FROM ends x
  WHERE s.license_id = $1 AND s.session_ref = x.session_ref AND s.ended_at IS NULL
    AND x.session_ref NOT IN (SELECT session_ref FROM ins WHERE kind = 'acquired')
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
	actors := make([]string, n)
	for i, ev := range events {
		ids[i], kinds[i], refs[i], ats[i] = ev.ID, ev.Kind, ev.SessionRef, ev.At
		fps[i], users[i], hosts[i], reasons[i] = ev.Fingerprint, ev.User, ev.Hostname, ev.Reason
		repos[i], actors[i] = ev.Repository, ev.Actor
		if norm, err := repositories.Normalize(ev.Repository); err == nil {
			// One remote written several ways is one repository in reports.
			repos[i] = norm
		}
	}
	return []any{licenseID, tenantID, ids, kinds, refs, ats, fps, users, hosts, repos, reasons, actors}
}
