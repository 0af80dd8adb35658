package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var migrationName = regexp.MustCompile(`^(\d{3,})_[a-z0-9_]+\.sql$`)

// migrationLock is the advisory lock key that serialises concurrent migrators
// (two deploys, or parallel test packages building a template).
const migrationLock = 0x6c6963656e7365 // "license"

// Migrate applies, in order, every migration in files not yet applied. Each
// runs in its own transaction together with its bookkeeping row, so a failed
// migration leaves nothing half done. It returns the versions it applied.
func Migrate(ctx context.Context, db *DB, files fs.FS) ([]int, error) {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	type migration struct {
		version int
		name    string
	}
	var todo []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %q is not named NNN_description.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		todo = append(todo, migration{version: v, name: e.Name()})
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].version < todo[j].version })

	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquiring connection for migrations: %w", connectFailure(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return nil, fmt.Errorf("taking migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock) //nolint:errcheck // released with the session anyway

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("creating schema_migrations: %w", err)
	}
	var applied []int
	for _, m := range todo {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&done); err != nil {
			return applied, fmt.Errorf("checking migration %s: %w", m.name, err)
		}
		if done {
			continue
		}
		sql, err := fs.ReadFile(files, m.name)
		if err != nil {
			return applied, fmt.Errorf("reading migration %s: %w", m.name, err)
		}
		err = retryConcurrentRoleChange(ctx, func() error {
			return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				// From 005 on, the tables' owner is the NOLOGIN role
				// license_owner; later migrations act as it, so what they
				// create is its too. 005 itself and those before it run as
				// the login (005 creates the owner, which cannot create
				// roles).
				if m.version > OwnerSince {
					if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+OwnerRole); err != nil {
						return fmt.Errorf("acting as %s: %w", OwnerRole, err)
					}
				}
				if _, err := tx.Exec(ctx, string(sql)); err != nil {
					return err
				}
				// The bookkeeping is the login's (a migration may have
				// switched role).
				if _, err := tx.Exec(ctx, `RESET ROLE`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
				return err
			})
		})
		if err != nil {
			return applied, fmt.Errorf("applying migration %s: %w", m.name, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

// retryConcurrentRoleChange runs f again when it failed only because
// another session changed the same role at the same moment. Roles are
// shared by every database of a server, while the migration lock is per
// database, so two databases of one server migrating at once (test
// databases, say) can collide on CREATE ROLE or GRANT: PostgreSQL reports a
// duplicate key in pg_authid or "tuple concurrently updated". Each attempt
// is a whole migration transaction, so a retry starts clean.
func retryConcurrentRoleChange(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		var pgErr *pgconn.PgError
		concurrent := errors.As(err, &pgErr) && (strings.Contains(pgErr.Message, "tuple concurrently updated") ||
			(pgErr.Code == "23505" && strings.HasPrefix(pgErr.ConstraintName, "pg_authid")) ||
			(pgErr.Code == "23505" && strings.HasPrefix(pgErr.ConstraintName, "pg_auth_members")))
		if !concurrent || attempt == 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		}
	}
}
