// Package workstations stores the machines seats are used on: seen on every
// acquire, listed with when they were last seen, and blockable by an admin.
package workstations

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// Workstation is one machine of a tenant.
type Workstation struct {
	ID          string         `json:"id"`
	TenantID    string         `json:"tenant_id"`
	Fingerprint string         `json:"fingerprint"`
	Hostname    string         `json:"hostname"`
	OS          string         `json:"os"`
	LastUser    string         `json:"last_user"`
	Blocked     bool           `json:"blocked"`
	FirstSeenAt timestamp.Time `json:"first_seen_at"`
	LastSeenAt  timestamp.Time `json:"last_seen_at"`
}

// Sighting is one acquire from a workstation.
type Sighting struct {
	TenantID, Fingerprint, Hostname, OS, User string
	At                                        time.Time
}

// Store reads and writes workstations.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("workstations: nil database")
	}
	return &Store{db: db}, nil
}

const columns = `id, tenant_id, fingerprint, hostname, os, last_user, blocked, first_seen_at, last_seen_at`

func scan(row pgx.Row) (Workstation, error) {
	var w Workstation
	err := row.Scan(&w.ID, &w.TenantID, &w.Fingerprint, &w.Hostname, &w.OS, &w.LastUser, &w.Blocked, &w.FirstSeenAt, &w.LastSeenAt)
	return w, database.NotFound(err)
}

// Get returns one of a tenant's workstations.
func (s *Store) Get(ctx context.Context, tenantID, id string) (Workstation, error) {
	w, err := database.One(ctx, s.db, database.Tenant(tenantID), scan,
		`SELECT `+columns+` FROM workstations WHERE id = $1 AND tenant_id = $2`, id, tenantID)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return Workstation{}, fmt.Errorf("reading workstation: %w", err)
	}
	return w, err
}

// List returns a page of a tenant's workstations, first seen first.
func (s *Store) List(ctx context.Context, tenantID string, p database.Page) ([]Workstation, string, error) {
	out, next, err := database.List(ctx, s.db, database.Tenant(tenantID), p,
		func(w Workstation) database.Cursor { return database.Cursor{At: w.FirstSeenAt.Time, ID: w.ID} }, scan,
		`SELECT `+columns+` FROM workstations WHERE tenant_id = $1
			AND ($2::timestamptz IS NULL OR (first_seen_at, id) > ($2, $3::uuid))
			ORDER BY first_seen_at, id LIMIT $4`, tenantID)
	if err != nil {
		return nil, "", fmt.Errorf("listing workstations: %w", err)
	}
	return out, next, nil
}

// SetBlocked blocks or unblocks one of a tenant's workstations.
func (s *Store) SetBlocked(ctx context.Context, tenantID, id string, blocked bool) (Workstation, error) {
	w, err := database.One(ctx, s.db, database.Tenant(tenantID), scan,
		`UPDATE workstations SET blocked = $3 WHERE id = $1 AND tenant_id = $2 RETURNING `+columns, id, tenantID, blocked)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return Workstation{}, fmt.Errorf("updating workstation: %w", err)
	}
	return w, err
}

// Upsert records sightings: a new workstation is created, a known one gets
// its last-seen time and details refreshed (never moved backwards). Each
// tenant's sightings are written by one statement in a transaction of
// their own, so a tenant whose write fails loses only its own: lost counts
// the sightings not recorded, and err says why.
func (s *Store) Upsert(ctx context.Context, seen []Sighting) (lost int, err error) {
	// One row per workstation (an upsert may not touch a row twice in one
	// statement): the newest sighting wins.
	newest := map[[2]string]Sighting{}
	for _, x := range seen {
		k := [2]string{x.TenantID, x.Fingerprint}
		if old, ok := newest[k]; !ok || x.At.After(old.At) {
			newest[k] = x
		}
	}
	byTenant := map[string][]Sighting{}
	for _, x := range newest {
		byTenant[x.TenantID] = append(byTenant[x.TenantID], x)
	}
	var errs []error
	for tenantID, list := range byTenant {
		if err := s.upsertTenant(ctx, tenantID, list); err != nil {
			lost += len(list)
			errs = append(errs, fmt.Errorf("recording %d workstations of tenant %s: %w", len(list), tenantID, err))
		}
	}
	return lost, errors.Join(errs...)
}

// upsertTenant writes one tenant's sightings, each fingerprint once.
func (s *Store) upsertTenant(ctx context.Context, tenantID string, list []Sighting) error {
	n := len(list)
	fps, hosts, oses, users := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats := make([]time.Time, n)
	for i, x := range list {
		fps[i], hosts[i], oses[i], users[i], ats[i] = x.Fingerprint, x.Hostname, x.OS, x.User, x.At
	}
	return s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO workstations (tenant_id, fingerprint, hostname, os, last_user, first_seen_at, last_seen_at)
			SELECT $1, fp, host, os, usr, at, at FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
				AS x(fp, host, os, usr, at)
			ON CONFLICT (tenant_id, fingerprint) DO UPDATE SET
				hostname = CASE WHEN EXCLUDED.hostname <> '' THEN EXCLUDED.hostname ELSE workstations.hostname END,
				os = CASE WHEN EXCLUDED.os <> '' THEN EXCLUDED.os ELSE workstations.os END,
				last_user = CASE WHEN EXCLUDED.last_user <> '' THEN EXCLUDED.last_user ELSE workstations.last_user END,
				last_seen_at = GREATEST(workstations.last_seen_at, EXCLUDED.last_seen_at)`,
			tenantID, fps, hosts, oses, users, ats)
		return err
	})
}
