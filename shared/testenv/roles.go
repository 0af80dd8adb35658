package testenv

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/database"
)

// OpenAs is db's database and settings (its tracers, timeouts, server
// address, reachable or not) logged in as role instead: the test servers
// trust local logins, so no password is needed. Like a pool, it connects
// only when used. Tests of what the functions may do connect this way,
// never as the superuser that created the database. It is closed when the
// test ends.
func OpenAs(t testing.TB, db *database.DB, role database.Role) *database.DB {
	t.Helper()
	cfg := db.Pool.Config()
	cfg.ConnConfig.User = string(role)
	cfg.ConnConfig.Password = ""
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("connecting as %s: %v", role, err)
	}
	t.Cleanup(pool.Close)
	return &database.DB{Pool: pool, Timeout: db.Timeout}
}

// RoleBackends builds, on b's Redis (same key prefix) and database, a
// backend for every function role, each logged in as its role, so
// functions built on them run with exactly their role's rights.
func RoleBackends(t testing.TB, b *backend.Backend) map[database.Role]*backend.Backend {
	t.Helper()
	out := map[database.Role]*backend.Backend{}
	for _, role := range database.Roles() {
		rb, err := backend.NewForRole(b, OpenAs(t, b.DB, role), role, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rb.Sightings.Close)
		out[role] = rb
	}
	return out
}
