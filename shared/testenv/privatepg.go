package testenv

import (
	"context"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/pgserver"
)

// PrivatePG is a PostgreSQL server of the test's own, with every migration
// applied to its "postgres" database, which the test may stop, kill, freeze
// and start again (pgserver.Server's methods) without touching the shared
// server other tests use.
type PrivatePG struct {
	*pgserver.Server
}

// PrivatePostgres starts a private PostgreSQL cluster (initdb takes a second
// or two: one per test), migrates it and removes it when the test ends.
func PrivatePostgres(t testing.TB) *PrivatePG {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := EmptyPrivatePostgres(t).Server
	db, err := database.Open(ctx, s.URL())
	if err != nil {
		t.Fatalf("connecting to the private PostgreSQL: %v", err)
	}
	defer db.Close()
	if _, err := database.Migrate(ctx, db, schema.Files); err != nil {
		t.Fatalf("migrating the private PostgreSQL: %v", err)
	}
	return &PrivatePG{Server: s}
}

// EmptyPrivatePostgres starts a private PostgreSQL cluster with no tables,
// for tests of the migrations or of the server's own settings (its
// authentication, say), and removes it when the test ends.
func EmptyPrivatePostgres(t testing.TB) *PrivatePG {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := pgserver.Start(ctx, t.Logf)
	if err != nil {
		t.Fatalf("starting a private PostgreSQL (needs the server binaries, e.g. apt-get install postgresql): %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("removing the private PostgreSQL: %v", err)
		}
	})
	return &PrivatePG{Server: s}
}
