// Package testenv gives tests real backing services: a fresh migrated
// PostgreSQL database, an isolated slice of a real Redis, a private 3-master
// Redis Cluster, and the embedded Redis that `make run` uses. A test that
// cannot reach a server fails with a message saying how to start it; nothing
// is skipped.
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/database"
)

// DefaultPostgresURL is the server the development and CI machines run.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresAdminURL is the server tests create databases on: TEST_DATABASE_URL,
// or the local default.
func PostgresAdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// PostgresURL creates a fresh database, cloned from a template that holds
// every migration, and returns its URL. The database is dropped when the test
// ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, true)
}

// EmptyPostgresURL creates a fresh database with no tables, for testing the
// migrations themselves.
func EmptyPostgresURL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, false)
}

func createDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin := PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"Start it (on the dev machine: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "+
			"or point TEST_DATABASE_URL at a server where this user may CREATE DATABASE.", redact(admin), err)
	}
	defer conn.Close(context.Background())

	template := "template0"
	if migrated {
		if template, err = ensureTemplate(ctx, conn, admin); err != nil {
			t.Fatalf("preparing template database: %v", err)
		}
	}
	name := "license_test_" + randomHex(6)
	// Cloning copies the template's files; concurrent clones of one template
	// are serialised by the same lock that guards building it.
	if err := withLock(ctx, conn, template, func() error {
		_, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template))
		return err
	}); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	return withDatabase(admin, name)
}

// Postgres returns an open handle on a fresh migrated database.
func Postgres(t testing.TB) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), PostgresURL(t))
	if err != nil {
		t.Fatalf("opening test database: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// ensureTemplate builds, once per set of migrations, a database holding them.
func ensureTemplate(ctx context.Context, conn *pgx.Conn, admin string) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "license_tmpl_" + sum
	err = withLock(ctx, conn, name, func() error {
		var ready bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name).Scan(&ready)
		if err != nil || ready {
			return err
		}
		// A half-built template from an interrupted run is rebuilt from scratch.
		if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, name)); err != nil {
			return err
		}
		db, err := database.Open(ctx, withDatabase(admin, name))
		if err != nil {
			return err
		}
		_, err = database.Migrate(ctx, db, schema.Files)
		db.Close()
		if err != nil {
			return err
		}
		_, err = conn.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s WITH IS_TEMPLATE true`, name))
		return err
	})
	return name, err
}

func withLock(ctx context.Context, conn *pgx.Conn, name string, f func() error) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext($1))`, name); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(hashtext($1))`, name) //nolint:errcheck // released with the session anyway
	return f()
}

func migrationsHash() (string, error) {
	entries, err := fs.ReadDir(schema.Files, ".")
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(schema.Files, n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func withDatabase(rawURL, name string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Path = "/" + name
	return u.String()
}

func redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparseable url)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
