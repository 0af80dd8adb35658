package database

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

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

// ActorOf is who WithActor says acts in ctx ("" the service itself), for
// records kept outside PostgreSQL that must name the same actor as its
// audit log (the seat ledger's revocations).
func ActorOf(ctx context.Context) string { return actor(ctx) }

// Tx runs f in a transaction under row-level security for scope, committing
// when f returns nil. Every store query runs through here, so a query that
// forgets its tenant filter still sees only the tenant's rows.
//
// The scope is entered through app_enter_scope (schema/005), which records
// it where the login role cannot change it and refuses a second call in the
// same transaction; the policies trust nothing else. So SQL run later in
// the transaction (a forgotten filter, an injection) cannot widen it.
func (db *DB) Tx(ctx context.Context, scope Scope, f func(tx pgx.Tx) error) error {
	if !scope.platform && scope.tenantID == "" {
		return fmt.Errorf("database: transaction without a scope")
	}
	return db.InTx(ctx, func(tx pgx.Tx) error {
		var tenant any
		if !scope.platform {
			tenant = scope.tenantID
		}
		// One round trip, as before: the scope and the actor the audit
		// trigger records.
		if _, err := tx.Exec(ctx, `SELECT app_enter_scope($1::uuid, $2, $3)`, tenant, scope.platform, actor(ctx)); err != nil {
			return fmt.Errorf("setting transaction scope: %w", err)
		}
		return f(tx)
	})
}
