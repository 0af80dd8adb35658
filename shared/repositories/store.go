package repositories

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// ErrRemoteTaken is returned when another live repository of the tenant has
// the same normalised remote.
var ErrRemoteTaken = errors.New("remote taken")

// Repository is one code repository of a tenant.
type Repository struct {
	ID            string         `json:"id"`
	TenantID      string         `json:"tenant_id"`
	Name          string         `json:"name"`
	RemoteURL     string         `json:"remote_url"`
	Provider      string         `json:"provider"`
	DefaultBranch string         `json:"default_branch"`
	CreatedAt     timestamp.Time `json:"created_at"`
	UpdatedAt     timestamp.Time `json:"updated_at"`
}

// Fields are what a create or update sets; nil leaves a field alone (on
// create, nil means empty).
type Fields struct {
	Name, RemoteURL, Provider, DefaultBranch *string
}

// Store reads and writes repositories.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("repositories: nil database")
	}
	return &Store{db: db}, nil
}

const columns = `id, tenant_id, name, remote_url, provider, default_branch, created_at, updated_at`

func scan(row pgx.Row) (Repository, error) {
	var r Repository
	err := row.Scan(&r.ID, &r.TenantID, &r.Name, &r.RemoteURL, &r.Provider, &r.DefaultBranch, &r.CreatedAt, &r.UpdatedAt)
	return r, database.NotFound(err)
}

func (s *Store) one(ctx context.Context, tenantID, what, sql string, args ...any) (Repository, error) {
	r, err := database.One(ctx, s.db, database.Tenant(tenantID), scan, sql, args...)
	switch {
	case database.IsUniqueViolationOf(err, "repositories_remote_live"):
		return Repository{}, ErrRemoteTaken
	case err != nil && !errors.Is(err, database.ErrNotFound):
		return Repository{}, fmt.Errorf("%s repository: %w", what, err)
	}
	return r, err
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Create adds a repository to a live tenant. RemoteURL must be normalised.
func (s *Store) Create(ctx context.Context, tenantID string, f Fields) (Repository, error) {
	return s.one(ctx, tenantID, "inserting", `
		INSERT INTO repositories (tenant_id, name, remote_url, provider, default_branch)
		SELECT t.id, $2, $3, $4, $5 FROM tenants t WHERE t.id = $1 AND t.status <> 'deleted'
		RETURNING `+columns, tenantID, deref(f.Name), deref(f.RemoteURL), deref(f.Provider), deref(f.DefaultBranch))
}

// Get returns one live repository of a tenant.
func (s *Store) Get(ctx context.Context, tenantID, id string) (Repository, error) {
	return s.one(ctx, tenantID, "reading",
		`SELECT `+columns+` FROM repositories WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL`, id, tenantID)
}

// List returns a page of a tenant's live repositories, oldest first.
func (s *Store) List(ctx context.Context, tenantID string, p database.Page) ([]Repository, string, error) {
	out, next, err := database.List(ctx, s.db, database.Tenant(tenantID), p,
		func(r Repository) database.Cursor { return database.Cursor{At: r.CreatedAt.Time, ID: r.ID} }, scan,
		`SELECT `+columns+` FROM repositories WHERE tenant_id = $1 AND deleted_at IS NULL
			AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
			ORDER BY created_at, id LIMIT $4`, tenantID)
	if err != nil {
		return nil, "", fmt.Errorf("listing repositories: %w", err)
	}
	return out, next, nil
}

// Update changes a live repository of a tenant.
func (s *Store) Update(ctx context.Context, tenantID, id string, f Fields) (Repository, error) {
	return s.one(ctx, tenantID, "updating", `
		UPDATE repositories SET
			name = COALESCE($3, name), remote_url = COALESCE($4, remote_url),
			provider = COALESCE($5, provider), default_branch = COALESCE($6, default_branch),
			updated_at = now()
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL
		RETURNING `+columns, id, tenantID, f.Name, f.RemoteURL, f.Provider, f.DefaultBranch)
}

// Delete removes a repository from reads (kept for the record).
func (s *Store) Delete(ctx context.Context, tenantID, id string) error {
	_, err := s.one(ctx, tenantID, "deleting", `
		UPDATE repositories SET deleted_at = now(), updated_at = now()
		WHERE id = $1 AND tenant_id = $2 AND deleted_at IS NULL
		RETURNING `+columns, id, tenantID)
	return err
}
