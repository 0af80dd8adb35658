// Package licenses stores floating licenses: what a tenant may use, how many
// seats at once, for how long. Live seats are not here; they are in Redis
// (shared/seats), which gets a write-through copy of what it needs.
package licenses

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// License is one license as stored.
type License struct {
	ID              string
	TenantID        string
	Product         string
	Seats           int
	LeaseTTLSeconds int
	Status          string
	ExpiresAt       *time.Time
	KeyHash         string
	KeyPrefix       string
	CreatedAt       time.Time
	UpdatedAt       time.Time

	revision       int64
	tenantStatus   string
	tenantRevision int64
}

// Seat is the license as the seat scripts see it. Its revision is the sum of
// the license's and its tenant's, so a change to either supersedes the copy
// in Redis.
func (l License) Seat() seats.License {
	s := seats.License{
		ID:           l.ID,
		TenantID:     l.TenantID,
		KeyHash:      l.KeyHash,
		Status:       l.Status,
		TenantStatus: l.tenantStatus,
		Seats:        l.Seats,
		LeaseTTL:     time.Duration(l.LeaseTTLSeconds) * time.Second,
		Revision:     l.revision + l.tenantRevision,
	}
	if l.ExpiresAt != nil {
		s.ExpiresAt = *l.ExpiresAt
	}
	return s
}

// Store reads and writes licenses. Every query names the tenant, so one
// tenant can never read or change another's license by guessing its id.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("licenses: nil database")
	}
	return &Store{db: db}, nil
}

// columns are read from a license "l" joined with its tenant "t".
const columns = `l.id, l.tenant_id, l.product, l.seats, l.lease_ttl_seconds, l.status, l.expires_at,
	l.key_hash, l.key_prefix, l.created_at, l.updated_at, l.revision, t.status, t.revision`

const selectLicense = `SELECT ` + columns + ` FROM licenses l JOIN tenants t ON t.id = l.tenant_id`

// selectChanged reads back the rows a writing CTE named "changed" returned.
const selectChanged = `SELECT ` + columns + ` FROM changed l JOIN tenants t ON t.id = l.tenant_id`

func scan(row pgx.Row) (License, error) {
	var l License
	err := row.Scan(&l.ID, &l.TenantID, &l.Product, &l.Seats, &l.LeaseTTLSeconds, &l.Status, &l.ExpiresAt,
		&l.KeyHash, &l.KeyPrefix, &l.CreatedAt, &l.UpdatedAt, &l.revision, &l.tenantStatus, &l.tenantRevision)
	if l.ExpiresAt != nil {
		utc := l.ExpiresAt.UTC()
		l.ExpiresAt = &utc
	}
	return l, database.NotFound(err)
}

func collect(rows pgx.Rows, err error) ([]License, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (License, error) { return scan(r) })
}

// New describes a license to create.
type New struct {
	Product         string
	Seats           int
	LeaseTTLSeconds int
	ExpiresAt       *time.Time
}

// Create adds a license to a tenant that exists and is not deleted, and
// returns it with its key. The key is returned only here: the store keeps
// its hash.
func (s *Store) Create(ctx context.Context, tenantID string, n New) (License, string, error) {
	id, err := tokens.NewUUID()
	if err != nil {
		return License{}, "", fmt.Errorf("making license id: %w", err)
	}
	key, hash, err := tokens.NewLicenseKey(id)
	if err != nil {
		return License{}, "", fmt.Errorf("making license key: %w", err)
	}
	l, err := scan(s.db.Pool.QueryRow(ctx, `
		WITH changed AS (
			INSERT INTO licenses (id, tenant_id, product, seats, lease_ttl_seconds, expires_at, key_hash, key_prefix)
			SELECT $1, t.id, $3, $4, $5, $6, $7, $8 FROM tenants t WHERE t.id = $2 AND t.status <> 'deleted'
			RETURNING *
		)`+selectChanged,
		id, tenantID, n.Product, n.Seats, n.LeaseTTLSeconds, n.ExpiresAt, hash, key[:tokens.DisplayPrefixLen]))
	if errors.Is(err, database.ErrNotFound) {
		return License{}, "", err
	}
	if err != nil {
		return License{}, "", fmt.Errorf("inserting license: %w", err)
	}
	return l, key, nil
}

// Get returns a tenant's license that is not deleted.
func (s *Store) Get(ctx context.Context, tenantID, id string) (License, error) {
	l, err := scan(s.db.Pool.QueryRow(ctx, selectLicense+`
		WHERE l.id = $1 AND l.tenant_id = $2 AND l.status <> 'deleted' AND t.status <> 'deleted'`, id, tenantID))
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return License{}, fmt.Errorf("reading license: %w", err)
	}
	return l, err
}

// List returns a tenant's licenses that are not deleted, oldest first.
func (s *Store) List(ctx context.Context, tenantID string) ([]License, error) {
	out, err := collect(s.db.Pool.Query(ctx, selectLicense+`
		WHERE l.tenant_id = $1 AND l.status <> 'deleted' AND t.status <> 'deleted'
		ORDER BY l.created_at, l.id`, tenantID))
	if err != nil {
		return nil, fmt.Errorf("listing licenses: %w", err)
	}
	return out, nil
}

// Patch holds the fields an update changes. A nil pointer leaves a field
// alone; ClearExpiry removes the expiry.
type Patch struct {
	Seats           *int
	Status          *string // active or suspended
	LeaseTTLSeconds *int
	ExpiresAt       *time.Time
	ClearExpiry     bool
}

// Update changes a tenant's license that is not deleted.
func (s *Store) Update(ctx context.Context, tenantID, id string, p Patch) (License, error) {
	l, err := scan(s.db.Pool.QueryRow(ctx, `
		WITH changed AS (
			UPDATE licenses l SET
				seats = COALESCE($3, l.seats),
				status = COALESCE($4, l.status),
				lease_ttl_seconds = COALESCE($5, l.lease_ttl_seconds),
				expires_at = CASE WHEN $7 THEN NULL ELSE COALESCE($6, l.expires_at) END,
				revision = l.revision + 1,
				updated_at = now()
			FROM tenants t
			WHERE l.id = $1 AND l.tenant_id = $2 AND t.id = l.tenant_id
			  AND l.status <> 'deleted' AND t.status <> 'deleted'
			RETURNING l.*
		)`+selectChanged,
		id, tenantID, p.Seats, p.Status, p.LeaseTTLSeconds, p.ExpiresAt, p.ClearExpiry))
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return License{}, fmt.Errorf("updating license: %w", err)
	}
	return l, err
}

// Delete marks a tenant's license deleted and returns it as deleted, so the
// caller can write the deletion through to Redis.
func (s *Store) Delete(ctx context.Context, tenantID, id string) (License, error) {
	deleted := "deleted"
	l, err := scan(s.db.Pool.QueryRow(ctx, `
		WITH changed AS (
			UPDATE licenses l SET status = $3, deleted_at = now(), revision = l.revision + 1, updated_at = now()
			FROM tenants t
			WHERE l.id = $1 AND l.tenant_id = $2 AND t.id = l.tenant_id
			  AND l.status <> 'deleted' AND t.status <> 'deleted'
			RETURNING l.*
		)`+selectChanged, id, tenantID, deleted))
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return License{}, fmt.Errorf("deleting license: %w", err)
	}
	return l, err
}

// SeatLicense loads one license for the seat engine, whatever its state,
// by id alone: the caller proved it holds the license's key, which the seat
// script checks against KeyHash. It is the engine's Loader.
func (s *Store) SeatLicense(ctx context.Context, id string) (seats.License, error) {
	l, err := scan(s.db.Pool.QueryRow(ctx, selectLicense+` WHERE l.id = $1`, id))
	if errors.Is(err, database.ErrNotFound) {
		return seats.License{}, seats.ErrLicenseNotFound
	}
	if err != nil {
		return seats.License{}, fmt.Errorf("reading license: %w", err)
	}
	return l.Seat(), nil
}

// SeatLicensesOfTenant returns every license of a tenant, deleted ones too,
// as the seat engine sees them: after a tenant changes, each must be written
// through again.
func (s *Store) SeatLicensesOfTenant(ctx context.Context, tenantID string) ([]seats.License, error) {
	all, err := collect(s.db.Pool.Query(ctx, selectLicense+` WHERE l.tenant_id = $1 ORDER BY l.id`, tenantID))
	if err != nil {
		return nil, fmt.Errorf("listing licenses of tenant: %w", err)
	}
	out := make([]seats.License, len(all))
	for i, l := range all {
		out[i] = l.Seat()
	}
	return out, nil
}
