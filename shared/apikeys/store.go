// Package apikeys stores API keys: credentials for service accounts, CI
// systems and SDKs, each of one tenant with one role. A key is shown once;
// only its SHA-256 is kept, with a short visible prefix to recognise it.
package apikeys

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/timestamp"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Prefix starts every API key, so a bearer credential's kind is plain.
const Prefix = "ak_"

// displayLen is how much of a key is kept to recognise it.
const displayLen = len(Prefix) + 8

// Key is an API key as stored (never the secret itself).
type Key struct {
	ID        string          `json:"id"`
	TenantID  string          `json:"tenant_id"`
	Name      string          `json:"name"`
	Role      string          `json:"role"`
	KeyPrefix string          `json:"key_prefix"`
	CreatedBy string          `json:"created_by"`
	CreatedAt timestamp.Time  `json:"created_at"`
	RevokedAt *timestamp.Time `json:"revoked_at"`
}

// Store reads and writes API keys.
type Store struct{ db *database.DB }

// NewStore returns a store on db.
func NewStore(db *database.DB) (*Store, error) {
	if db == nil {
		return nil, errors.New("apikeys: nil database")
	}
	return &Store{db: db}, nil
}

const columns = `id, tenant_id, name, role, key_prefix, created_by, created_at, revoked_at`

func scan(row pgx.Row) (Key, error) {
	var k Key
	err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Role, &k.KeyPrefix, &k.CreatedBy, &k.CreatedAt, &k.RevokedAt)
	return k, database.NotFound(err)
}

func (s *Store) one(ctx context.Context, scope database.Scope, what, sql string, args ...any) (Key, error) {
	k, err := database.One(ctx, s.db, scope, scan, sql, args...)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return Key{}, fmt.Errorf("%s api key: %w", what, err)
	}
	return k, err
}

// Create makes a key for a live tenant and returns it with the secret,
// which exists only in this answer.
func (s *Store) Create(ctx context.Context, tenantID, name, role, createdBy string) (Key, string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Key{}, "", fmt.Errorf("making api key: %w", err)
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(b)
	k, err := s.one(ctx, database.Tenant(tenantID), "inserting", `
		INSERT INTO api_keys (tenant_id, name, role, key_hash, key_prefix, created_by)
		SELECT t.id, $2, $3, $4, $5, $6 FROM tenants t WHERE t.id = $1 AND t.status <> 'deleted'
		RETURNING `+columns, tenantID, name, role, tokens.Hash(secret), secret[:displayLen], createdBy)
	if err != nil {
		return Key{}, "", err
	}
	return k, secret, nil
}

// List returns a page of a tenant's keys, revoked ones included, oldest first.
func (s *Store) List(ctx context.Context, tenantID string, p database.Page) ([]Key, string, error) {
	out, next, err := database.List(ctx, s.db, database.Tenant(tenantID), p,
		func(k Key) database.Cursor { return database.Cursor{At: k.CreatedAt.Time, ID: k.ID} }, scan,
		`SELECT `+columns+` FROM api_keys WHERE tenant_id = $1
			AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3::uuid))
			ORDER BY created_at, id LIMIT $4`, tenantID)
	if err != nil {
		return nil, "", fmt.Errorf("listing api keys: %w", err)
	}
	return out, next, nil
}

// Revoke ends a key in PostgreSQL and returns it with its hash, which
// Cache.Revoke needs to end it in Redis too.
func (s *Store) revoke(ctx context.Context, tenantID, id string) (Key, string, error) {
	var hash string
	k, err := database.One(ctx, s.db, database.Tenant(tenantID), func(row pgx.Row) (Key, error) {
		var k Key
		err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Role, &k.KeyPrefix, &k.CreatedBy, &k.CreatedAt, &k.RevokedAt, &hash)
		return k, database.NotFound(err)
	}, `
		UPDATE api_keys SET revoked_at = now()
		WHERE id = $1 AND tenant_id = $2 AND revoked_at IS NULL
		RETURNING `+columns+`, key_hash`, id, tenantID)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return Key{}, "", fmt.Errorf("revoking api key: %w", err)
	}
	return k, hash, err
}

// hashesOfTenant returns the hash of every key of a tenant, revoked ones
// too.
func (s *Store) hashesOfTenant(ctx context.Context, tenantID string) ([]string, error) {
	var out []string
	err := s.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT key_hash FROM api_keys WHERE tenant_id = $1`, tenantID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the api keys of tenant %s: %w", tenantID, err)
	}
	return out, nil
}

// wellFormed reports whether secret could be a key of ours at all.
func wellFormed(secret string) bool {
	return strings.HasPrefix(secret, Prefix) && len(secret) <= 100
}

// Authenticate returns the live key a secret belongs to, of a tenant that is
// not deleted; ErrNotFound for any other secret. The lookup is by hash, so
// the secret is never compared byte by byte. Requests authenticate through
// Cache.Authenticate, which reads here only what Redis does not hold.
func (s *Store) Authenticate(ctx context.Context, secret string) (Key, error) {
	if !wellFormed(secret) {
		return Key{}, database.ErrNotFound
	}
	return s.one(ctx, database.Platform(), "reading", `
		SELECT k.id, k.tenant_id, k.name, k.role, k.key_prefix, k.created_by, k.created_at, k.revoked_at
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND t.status <> 'deleted'`, tokens.Hash(secret))
}
