// Package tenants stores tenants, the vendors' customers that own licenses.
package tenants

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// Errors callers map to API answers.
var (
	ErrSlugTaken           = errors.New("slug taken")
	ErrIdentityTenantTaken = errors.New("identity platform tenant taken")
)

// Tenant is one customer.
type Tenant struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	Slug        string         `json:"slug"`
	Status      string         `json:"status"`
	IDPTenantID *string        `json:"idp_tenant_id"`
	CreatedAt   timestamp.Time `json:"created_at"`
	UpdatedAt   timestamp.Time `json:"updated_at"`
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

const columns = `id, name, slug, status, idp_tenant_id, created_at, updated_at`

func scan(row pgx.Row) (Tenant, error) {
	var t Tenant
	err := row.Scan(&t.ID, &t.Name, &t.Slug, &t.Status, &t.IDPTenantID, &t.CreatedAt, &t.UpdatedAt)
	return t, database.NotFound(err)
}

// one runs a statement returning one tenant under scope.
func (s *Store) one(ctx context.Context, scope database.Scope, what, sql string, args ...any) (Tenant, error) {
	t, err := database.One(ctx, s.db, scope, scan, sql, args...)
	switch {
	case database.IsUniqueViolationOf(err, "tenants_slug_live"):
		return Tenant{}, ErrSlugTaken
	case database.IsUniqueViolationOf(err, "tenants_idp_live"):
		return Tenant{}, ErrIdentityTenantTaken
	case err != nil && !errors.Is(err, database.ErrNotFound):
		return Tenant{}, fmt.Errorf("%s tenant: %w", what, err)
	}
	return t, err
}

// Create adds a tenant.
func (s *Store) Create(ctx context.Context, name, slug string, idpTenantID *string) (Tenant, error) {
	return s.one(ctx, database.Platform(), "inserting",
		`INSERT INTO tenants (name, slug, idp_tenant_id) VALUES ($1, $2, $3) RETURNING `+columns, name, slug, idpTenantID)
}

// Get returns a tenant that is not deleted.
func (s *Store) Get(ctx context.Context, id string) (Tenant, error) {
	return s.one(ctx, database.Tenant(id), "reading",
		`SELECT `+columns+` FROM tenants WHERE id = $1 AND status <> 'deleted'`, id)
}

// ByIdentityTenant returns the live tenant an Identity Platform tenant maps to.
func (s *Store) ByIdentityTenant(ctx context.Context, idpTenantID string) (Tenant, error) {
	return s.one(ctx, database.Platform(), "reading",
		`SELECT `+columns+` FROM tenants WHERE idp_tenant_id = $1 AND status <> 'deleted'`, idpTenantID)
}

// List returns a page of the tenants that are not deleted, oldest first.
// With only set, it lists just that tenant (what a tenant's own people see).
func (s *Store) List(ctx context.Context, only string, p database.Page) ([]Tenant, string, error) {
	scope := database.Platform()
	if only != "" {
		scope = database.Tenant(only)
	}
	out, next, err := database.List(ctx, s.db, scope, p,
		func(t Tenant) database.Cursor { return database.Cursor{At: t.CreatedAt.Time, ID: t.ID} }, scan,
		`SELECT `+columns+` FROM tenants
			WHERE status <> 'deleted' AND ($1 = '' OR id = $1::uuid)
			  AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
			ORDER BY created_at, id LIMIT $4`, only)
	if err != nil {
		return nil, "", fmt.Errorf("listing tenants: %w", err)
	}
	return out, next, nil
}

// ListIn returns a page of the live tenants among ids (a caller's own
// tenants), oldest first.
func (s *Store) ListIn(ctx context.Context, ids []string, p database.Page) ([]Tenant, string, error) {
	if len(ids) == 0 {
		return nil, "", nil
	}
	out, next, err := database.List(ctx, s.db, database.Platform(), p,
		func(t Tenant) database.Cursor { return database.Cursor{At: t.CreatedAt.Time, ID: t.ID} }, scan,
		`SELECT `+columns+` FROM tenants
			WHERE status <> 'deleted' AND id = ANY($1::uuid[])
			  AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
			ORDER BY created_at, id LIMIT $4`, ids)
	if err != nil {
		return nil, "", fmt.Errorf("listing tenants: %w", err)
	}
	return out, next, nil
}

// Patch holds the fields an update changes; nil leaves a field alone.
type Patch struct {
	Name        *string
	Slug        *string
	Status      *string // active or suspended
	IDPTenantID *string
	ClearIDP    bool
}

// Update changes a tenant that is not deleted. Its revision grows, so every
// license's copy in Redis is superseded.
func (s *Store) Update(ctx context.Context, id string, p Patch) (Tenant, error) {
	return s.one(ctx, database.Tenant(id), "updating", `
		UPDATE tenants SET
			name = COALESCE($2, name),
			slug = COALESCE($3, slug),
			status = COALESCE($4, status),
			idp_tenant_id = CASE WHEN $6 THEN NULL ELSE COALESCE($5, idp_tenant_id) END,
			revision = revision + 1,
			updated_at = now()
		WHERE id = $1 AND status <> 'deleted'
		RETURNING `+columns, id, p.Name, p.Slug, p.Status, p.IDPTenantID, p.ClearIDP)
}

// Delete marks a tenant deleted. Its rows stay for the record; it disappears
// from reads and its slug becomes free.
func (s *Store) Delete(ctx context.Context, id string) error {
	_, err := s.one(ctx, database.Tenant(id), "deleting", `
		UPDATE tenants SET status = 'deleted', deleted_at = now(), revision = revision + 1, updated_at = now()
		WHERE id = $1 AND status <> 'deleted'
		RETURNING `+columns, id)
	return err
}
