package database_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// twoTenants makes tenants a and b, each with a license, a workstation,
// a repository and an API key, through the superuser connection admin.
func twoTenants(t testing.TB, admin *database.DB) (a, b string) {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, 2)
	for i, slug := range []string{"tenant-a", "tenant-b"} {
		err := admin.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `INSERT INTO tenants (name, slug) VALUES ($1, $1) RETURNING id::text`, slug).Scan(&ids[i]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `
				WITH l AS (INSERT INTO licenses (tenant_id, product, seats, key_hash, key_prefix)
				           VALUES ($1, 'p', 2, encode(sha256($2::bytea), 'hex'), 'k') RETURNING 1),
				     w AS (INSERT INTO workstations (tenant_id, fingerprint) VALUES ($1, 'fp') RETURNING 1),
				     r AS (INSERT INTO repositories (tenant_id, name, remote_url) VALUES ($1, 'r', 'example.com/r') RETURNING 1),
				     m AS (INSERT INTO memberships (tenant_id, email, role, created_by) VALUES ($1, 'ada@example.com', 'admin', 'test') RETURNING 1)
				INSERT INTO api_keys (tenant_id, name, role, key_hash, key_prefix, created_by)
				VALUES ($1, 'k', 'admin', encode(sha256($3::bytea), 'hex'), 'k', 'test')`,
				ids[i], slug+"-license", slug+"-key")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids[0], ids[1]
}

// tenantTables lists every table with a tenant_id column (and tenants).
func tenantTables(t *testing.T, db *database.DB) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), `SELECT table_name::text FROM information_schema.columns
		WHERE table_schema = 'public' AND column_name = 'tenant_id' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return append(names, "tenants")
}

// TestScopeCannotBeWidenedFromTheApplicationsConnection runs, from each
// function role's own connection and inside a transaction scoped to tenant
// a, the tricks that used to widen the scope (set_config of the settings
// the policies read, entering another scope, RESET ROLE, SET ROLE to the
// owner) and then tries to read, change, delete and create tenant b's rows
// without a tenant filter. None may see or touch them.
func TestScopeCannotBeWidenedFromTheApplicationsConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := testenv.Postgres(t)
	a, b := twoTenants(t, admin)
	tables := tenantTables(t, admin)
	before := counts(t, admin, tables, b)
	tricks := []struct {
		name, sql string
		// refused: the trick itself must fail (it aborts the transaction).
		refused bool
	}{
		{"none", `SELECT 1`, false},
		{"set app.platform", `SELECT set_config('app.platform', 'on', true)`, false},
		{"set app.tenant_id", fmt.Sprintf(`SELECT set_config('app.tenant_id', '%s', true)`, b), false},
		{"set app.actor", `SELECT set_config('app.actor', '', true)`, false},
		{"enter the platform scope", `SELECT app_enter_scope(NULL, true, NULL)`, true},
		{"enter b's scope", fmt.Sprintf(`SELECT app_enter_scope('%s', false, NULL)`, b), true},
		{"RESET ROLE", `RESET ROLE`, false},
		{"SET ROLE owner", `SET ROLE ` + database.OwnerRole, true},
		{"set_config role owner", `SELECT set_config('role', '` + database.OwnerRole + `', true)`, true},
		{"write the scope", `UPDATE app_scope SET platform = true`, true},
	}
	for _, role := range database.Roles() {
		db := testenv.OpenAs(t, admin, role)
		for _, trick := range tricks {
			t.Run(string(role)+"/"+trick.name, func(t *testing.T) {
				err := db.Tx(ctx, database.Tenant(a), func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, trick.sql)
					if trick.refused {
						if err == nil {
							t.Errorf("%s was allowed", trick.sql)
						}
						return err
					}
					if err != nil {
						return fmt.Errorf("%s: %w", trick.sql, err)
					}
					for _, table := range tables {
						col := "tenant_id"
						if table == "tenants" {
							col = "id"
						}
						probes := []string{
							fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s <> '%s'`, table, col, a),
							fmt.Sprintf(`UPDATE %s SET %s = %s WHERE %s = '%s'`, table, col, col, col, b),
							fmt.Sprintf(`DELETE FROM %s WHERE %s = '%s'`, table, col, b),
						}
						for _, p := range probes {
							if n := affected(ctx, t, tx, p); n != 0 {
								t.Errorf("%s as %s after %q: %d of tenant b's rows", p, role, trick.sql, n)
							}
						}
					}
					// Creating a row of tenant b is refused whatever the role
					// may otherwise insert.
					for _, p := range []string{
						fmt.Sprintf(`INSERT INTO repositories (tenant_id, name, remote_url) VALUES ('%s', 'x', 'example.com/x')`, b),
						fmt.Sprintf(`INSERT INTO workstations (tenant_id, fingerprint) VALUES ('%s', 'x')`, b),
						fmt.Sprintf(`INSERT INTO licenses (tenant_id, product, seats, key_hash, key_prefix) VALUES ('%s', 'p', 1, repeat('a', 64), 'k')`, b),
					} {
						if n := affected(ctx, t, tx, p); n != 0 {
							t.Errorf("%s as %s after %q: inserted", p, role, trick.sql)
						}
					}
					return nil
				})
				if err != nil && !trick.refused {
					t.Fatal(err)
				}
			})
		}
	}
	// And tenant b's rows are as they were.
	if after := counts(t, admin, tables, b); !maps.Equal(before, after) {
		t.Errorf("tenant b's rows by table: %v before, %v after", before, after)
	}
}

// counts returns, by table, how many rows tenant holds.
func counts(t *testing.T, admin *database.DB, tables []string, tenant string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range tables {
		col := "tenant_id"
		if table == "tenants" {
			col = "id"
		}
		var n int
		if err := admin.Pool.QueryRow(context.Background(), fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s = $1`, table, col), tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

// affected runs statement in a savepoint and returns the rows it returned
// or changed; a refusal (no privilege, a policy's WITH CHECK) counts as
// none, and is rolled back so the transaction goes on.
func affected(ctx context.Context, t *testing.T, tx pgx.Tx, statement string) int64 {
	t.Helper()
	sp, err := tx.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Rollback(ctx) //nolint:errcheck // a savepoint only
	if strings.HasPrefix(statement, "SELECT") {
		var n int64
		if err := sp.QueryRow(ctx, statement).Scan(&n); err != nil {
			refusal(t, statement, err)
			return 0
		}
		return n
	}
	tag, err := sp.Exec(ctx, statement)
	if err != nil {
		refusal(t, statement, err)
		return 0
	}
	return tag.RowsAffected()
}

// refusal fails the test unless err is PostgreSQL refusing: no privilege
// (42501) or a row-level security check (42501 as well, "new row violates
// row-level security policy").
func refusal(t *testing.T, statement string, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Errorf("%s: %v; want a refusal (42501)", statement, err)
	}
}

// TestRolesAreLeastPrivileged checks the roles' attributes: the function
// roles log in, own nothing, cannot create roles or databases, bypass
// nothing and are members of no role (the owner's least of all); the
// owner cannot log in; and every table with tenant rows forces row-level
// security on its owner too (a future table with tenant_id and without it
// fails here).
func TestRolesAreLeastPrivileged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := testenv.Postgres(t)
	for _, role := range database.Roles() {
		var login, super, createRole, createDB, bypass, repl, member bool
		var memberships, owned int
		err := admin.Pool.QueryRow(ctx, `SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication,
				pg_has_role(rolname, $2, 'MEMBER'),
				(SELECT count(*) FROM pg_auth_members WHERE member = r.oid),
				(SELECT count(*) FROM pg_class WHERE relowner = r.oid) + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)
				+ (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) + (SELECT count(*) FROM pg_type WHERE typowner = r.oid)
				+ (SELECT count(*) FROM pg_database WHERE datdba = r.oid)
			FROM pg_roles r WHERE rolname = $1`, string(role), database.OwnerRole).
			Scan(&login, &super, &createRole, &createDB, &bypass, &repl, &member, &memberships, &owned)
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		if !login || super || createRole || createDB || bypass || repl || member || memberships != 0 || owned != 0 {
			t.Errorf("%s: login %v, superuser %v, createrole %v, createdb %v, bypassrls %v, replication %v, member of the owner %v, "+
				"member of %d roles, owns %d objects; want a login that is none of these and owns nothing",
				role, login, super, createRole, createDB, bypass, repl, member, memberships, owned)
		}
	}
	var ownerLogin bool
	if err := admin.Pool.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = $1`, database.OwnerRole).Scan(&ownerLogin); err != nil || ownerLogin {
		t.Errorf("%s can log in (%v)", database.OwnerRole, err)
	}
	for _, table := range tenantTables(t, admin) {
		var owner string
		var rls, force bool
		if err := admin.Pool.QueryRow(ctx, `SELECT relowner::regrole::text, relrowsecurity, relforcerowsecurity FROM pg_class
			WHERE oid = $1::regclass`, table).Scan(&owner, &rls, &force); err != nil {
			t.Fatal(err)
		}
		if owner != database.OwnerRole || !rls || !force {
			t.Errorf("%s: owner %s, row-level security %v, forced %v; want %s, enabled and forced", table, owner, rls, force, database.OwnerRole)
		}
	}
	// Nothing of the schema is left to another owner.
	var stray []string
	rows, err := admin.Pool.Query(ctx, `SELECT relname::text || ' (' || relowner::regrole::text || ')' FROM pg_class
		WHERE relnamespace = 'public'::regnamespace AND relname <> 'schema_migrations'
		  AND relname NOT LIKE 'schema_migrations%' AND relowner <> $1::regrole
		UNION ALL SELECT proname::text || ' (' || proowner::regrole::text || ')' FROM pg_proc
		WHERE pronamespace = 'public'::regnamespace AND proowner <> $1::regrole`, database.OwnerRole)
	if err != nil {
		t.Fatal(err)
	}
	if stray, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(stray) > 0 {
		t.Errorf("objects not owned by %s: %v (%v)", database.OwnerRole, stray, err)
	}
}

// TestRolesAreRefusedOutsideTheirClass tries, in the platform scope (so
// only privileges stand in the way), what each role's functions never do.
func TestRolesAreRefusedOutsideTheirClass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := testenv.Postgres(t)
	a, _ := twoTenants(t, admin)
	everyone := []string{
		fmt.Sprintf(`INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id) VALUES ('%s', 'x', 'x', 'x', 'x')`, a),
		`UPDATE audit_log SET actor = 'x'`,
		`SELECT count(*) FROM app_scope`,
		`DELETE FROM app_scope`,
		`CREATE TABLE mine (id int)`,
		`CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
		`DELETE FROM licenses`,
		`DELETE FROM tenants`,
		`SELECT count(*) FROM schema_migrations`,
		`CREATE ROLE mine`,
		`ALTER TABLE licenses NO FORCE ROW LEVEL SECURITY`,
		// Events are written by the triggers alone (schema/010), and
		// nobody deletes one or rewrites what it says.
		fmt.Sprintf(`INSERT INTO outbox_events (tenant_id, type, payload) VALUES ('%s', 'license.created', '{}')`, a),
		`UPDATE outbox_events SET payload = '{}'`,
		`UPDATE outbox_events SET type = 'license.deleted'`,
		`DELETE FROM outbox_events`,
		`SELECT count(*) FROM outbox_append(NULL, 'license.created', '{}')`,
		`SELECT count(*) FROM outbox_license_doc('{}')`,
	}
	refused := map[database.Role][]string{
		database.RoleSeats: {
			`UPDATE licenses SET seats = 100`,
			`UPDATE workstations SET blocked = true`,
			`UPDATE tenants SET status = 'suspended'`,
			`INSERT INTO tenants (name, slug) VALUES ('x', 'x')`,
			`UPDATE api_keys SET revoked_at = now()`,
			`SELECT count(*) FROM audit_log`,
			`SELECT count(*) FROM usage_events`,
			`SELECT count(*) FROM outbox_events`,
		},
		database.RoleAdmin: {
			`INSERT INTO usage_events (license_id, stream_id, tenant_id, kind, session_ref, at) SELECT id, '1-1', tenant_id, 'denied', '', now() FROM licenses`,
			`UPDATE usage_sessions SET ended_at = now()`,
			`INSERT INTO workstations (tenant_id, fingerprint) SELECT id, 'new' FROM tenants`,
			`UPDATE workstations SET last_seen_at = now()`,
			`SELECT count(*) FROM outbox_events`,
			`UPDATE outbox_events SET delivered_at = now()`,
		},
		database.RoleReader: {
			fmt.Sprintf(`INSERT INTO licenses (tenant_id, product, seats, key_hash, key_prefix) VALUES ('%s', 'p', 1, repeat('b', 64), 'k')`, a),
			`UPDATE licenses SET seats = 100`,
			`UPDATE api_keys SET revoked_at = now()`,
			`UPDATE tenants SET status = 'suspended'`,
			`INSERT INTO usage_events (license_id, stream_id, tenant_id, kind, session_ref, at) SELECT id, '1-1', tenant_id, 'denied', '', now() FROM licenses`,
			`SELECT count(*) FROM workstations`,
			`UPDATE outbox_events SET delivered_at = now()`,
		},
		database.RoleCleanup: {
			`UPDATE licenses SET seats = 100`,
			`INSERT INTO tenants (name, slug) VALUES ('x', 'x')`,
			`UPDATE workstations SET blocked = true`,
			`SELECT count(*) FROM api_keys`,
			`DELETE FROM usage_events`,
			`DELETE FROM usage_sessions`,
		},
	}
	for _, role := range database.Roles() {
		db := testenv.OpenAs(t, admin, role)
		for _, statement := range append(refused[role], everyone...) {
			err := db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
				var err error
				if strings.HasPrefix(statement, "SELECT") {
					var n int
					err = tx.QueryRow(ctx, statement).Scan(&n)
				} else {
					_, err = tx.Exec(ctx, statement)
				}
				return err
			})
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				t.Errorf("%s: %s: %v; want permission denied (42501)", role, statement, err)
			}
		}
	}
}

// TestNoScopeSeesNothing: a transaction that never entered a scope, on a
// function role's connection, sees no row of any tenant table (fail
// closed), and neither does one whose scope was set by an earlier
// transaction on the same connection.
func TestNoScopeSeesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := testenv.Postgres(t)
	twoTenants(t, admin)
	tables := tenantTables(t, admin)
	db := testenv.OpenAs(t, admin, database.RoleAdmin)
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// A platform scope on this very connection, committed.
	if _, err := conn.Exec(ctx, `SELECT app_enter_scope(NULL, true, NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		switch table {
		case "usage_events", "usage_sessions", "audit_log", "outbox_events", "email_messages", "seat_alerts":
			continue // not the admin role's to read
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s without a scope: %d rows (%v); want none", table, n, err)
		}
	}
}

// TestMigrateAsNonSuperuser migrates a database as Cloud SQL's migrating
// login is: CREATEROLE, owner of the database, never a superuser; then sets
// the function roles' passwords as the migrate command does.
func TestMigrateAsNonSuperuser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	adminURL := testenv.PostgresAdminURL()
	su, err := database.Open(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(su.Close) // after the cleanup below, which uses it
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	name := "license_migrate_test_" + hex.EncodeToString(suffix)
	if _, err := su.Pool.Exec(ctx, fmt.Sprintf(`CREATE ROLE %s LOGIN CREATEROLE NOSUPERUSER`, name)); err != nil {
		t.Fatal(err)
	}
	if _, err := su.Pool.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s OWNER %s TEMPLATE template0`, name, name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := su.Pool.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("dropping %s: %v", name, err)
		}
		if _, err := su.Pool.Exec(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, name)); err != nil {
			t.Errorf("dropping role %s: %v", name, err)
		}
	})
	u, err := database.URLAs(strings.Replace(adminURL, "/postgres?", "/"+name+"?", 1), database.Role(name))
	if err != nil {
		t.Fatal(err)
	}
	db, err := database.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var super bool
	if err := db.Pool.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil || super {
		t.Fatalf("the migrating login is a superuser (%v)", err)
	}
	if _, err := database.Migrate(ctx, db, schema.Files); err != nil {
		t.Fatalf("migrating as a CREATEROLE non-superuser: %v", err)
	}
	if err := database.SetPasswords(ctx, db, map[database.Role]string{database.RoleSeats: "a password 'with quotes'"}); err != nil {
		t.Fatalf("setting a password as a CREATEROLE non-superuser: %v", err)
	}
	var owner string
	if err := db.Pool.QueryRow(ctx, `SELECT relowner::regrole::text FROM pg_class WHERE oid = 'licenses'::regclass`).Scan(&owner); err != nil || owner != database.OwnerRole {
		t.Fatalf("licenses is owned by %q (%v); want %s", owner, err, database.OwnerRole)
	}
}
