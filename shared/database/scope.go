package database

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// appRole is the role every service transaction runs as: not the tables'
// owner, so row-level security applies to it (schema/002).
const appRole = "license_app"

// Scope says whose rows a transaction may see: one tenant's, or every
// tenant's (a platform admin, or a lookup that must cross tenants, such as
// resolving a credential to its tenant).
type Scope struct {
	tenantID string
	platform bool
}

// Tenant is the scope of one tenant.
func Tenant(id string) Scope { return Scope{tenantID: id} }

// Platform is the scope of every tenant.
func Platform() Scope { return Scope{platform: true} }

type actorKey struct{}

// WithActor names who is acting in ctx; changes made in transactions under
// it are written to the audit log with that name.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

func actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// Tx runs f in a transaction under row-level security for scope, committing
// when f returns nil. Every store query runs through here, so a query that
// forgets its tenant filter still sees only the tenant's rows.
func (db *DB) Tx(ctx context.Context, scope Scope, f func(tx pgx.Tx) error) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		platform := "off"
		if scope.platform {
			platform = "on"
		}
		if !scope.platform && scope.tenantID == "" {
			return fmt.Errorf("database: transaction without a scope")
		}
		// One round trip sets the role and the settings the policies read,
		// all local to this transaction.
		if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true),
			set_config('app.platform', $3, true), set_config('app.actor', $4, true)`,
			appRole, scope.tenantID, platform, actor(ctx)); err != nil {
			return fmt.Errorf("setting transaction scope: %w", err)
		}
		return f(tx)
	})
}
