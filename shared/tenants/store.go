// Package tenants stores tenants, the vendors' customers that own licenses.
package tenants

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
)

// ErrSlugTaken is returned when another live tenant has the slug.
var ErrSlugTaken = errors.New("slug taken")

// Tenant is one customer.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Slug      string    `json:"slug"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store reads and writes tenants.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("tenants: nil database")
	}
	return &Store{db: db}, nil
}

const columns = `id, name, slug, status, created_at, updated_at`

func scan(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.Slug, &t.Status, &t.CreatedAt, &t.UpdatedAt)
	return t, database.NotFound(err)
}

// Create adds a tenant.
func (s *Store) Create(ctx context.Context, name, slug string) (Tenant, error) {
	t, err := scan(s.db.Pool.QueryRow(ctx,
		`INSERT INTO tenants (name, slug) VALUES ($1, $2) RETURNING `+columns, name, slug))
	if database.IsUniqueViolation(err) {
		return Tenant{}, ErrSlugTaken
	}
	if err != nil {
		return Tenant{}, fmt.Errorf("inserting tenant: %w", err)
	}
	return t, nil
}

// Get returns a tenant that is not deleted.
func (s *Store) Get(ctx context.Context, id string) (Tenant, error) {
	t, err := scan(s.db.Pool.QueryRow(ctx,
		`SELECT `+columns+` FROM tenants WHERE id = $1 AND status <> 'deleted'`, id))
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return Tenant{}, fmt.Errorf("reading tenant: %w", err)
	}
	return t, err
}

// List returns every tenant that is not deleted, oldest first.
func (s *Store) List(ctx context.Context) ([]Tenant, error) {
	rows, err := s.db.Pool.Query(ctx,
		`SELECT `+columns+` FROM tenants WHERE status <> 'deleted' ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("listing tenants: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Tenant, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("listing tenants: %w", err)
	}
	return out, nil
}

// Patch holds the fields an update changes; nil leaves a field alone.
type Patch struct {
	Name   *string
	Slug   *string
	Status *string // active or suspended
}

// Update changes a tenant that is not deleted.
func (s *Store) Update(ctx context.Context, id string, p Patch) (Tenant, error) {
	t, err := scan(s.db.Pool.QueryRow(ctx, `
		UPDATE tenants SET
			name = COALESCE($2, name),
			slug = COALESCE($3, slug),
			status = COALESCE($4, status),
			revision = revision + 1,
			updated_at = now()
		WHERE id = $1 AND status <> 'deleted'
		RETURNING `+columns, id, p.Name, p.Slug, p.Status))
	if database.IsUniqueViolation(err) {
		return Tenant{}, ErrSlugTaken
	}
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return Tenant{}, fmt.Errorf("updating tenant: %w", err)
	}
	return t, err
}

// Delete marks a tenant deleted. Its rows stay for the record; it disappears
// from reads and its slug becomes free.
func (s *Store) Delete(ctx context.Context, id string) error {
	tag, err := s.db.Pool.Exec(ctx, `
		UPDATE tenants SET status = 'deleted', deleted_at = now(), revision = revision + 1, updated_at = now()
		WHERE id = $1 AND status <> 'deleted'`, id)
	if err != nil {
		return fmt.Errorf("deleting tenant: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return database.ErrNotFound
	}
	return nil
}
