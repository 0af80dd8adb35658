package database

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// OwnerRole owns every table, sequence, function and policy (schema/005).
// It cannot log in; only migrations act as it.
const OwnerRole = "license_owner"

// OwnerSince is the migration that made OwnerRole the owner; Migrate runs
// every later one as it.
const OwnerSince = 5

// Role is a function's database login role: one per class of what
// functions may write (schema/005 grants each exactly what its functions'
// queries need). The zero Role is none: a function that uses no database.
type Role string

// The function roles.
const (
	// RoleSeats: acquire, heartbeat, release.
	RoleSeats Role = "license_seats"
	// RoleAdmin: tenants, licenses, apikeys, workstations, repositories.
	RoleAdmin Role = "license_admin"
	// RoleReader: audit, usage.
	RoleReader Role = "license_reader"
	// RoleCleanup: cleanup.
	RoleCleanup Role = "license_cleanup"
)

// Roles lists every function role.
func Roles() []Role { return []Role{RoleSeats, RoleAdmin, RoleReader, RoleCleanup} }

// Class is the role's short name, as in DATABASE_PASSWORD_<CLASS> and the
// Secret Manager secret database-password-<class>.
func (r Role) Class() string {
	if len(r) > len("license_") {
		return string(r[len("license_"):])
	}
	return ""
}

// SetPasswords lets each role given log in with its password. The migrate
// command runs it after the migrations (the roles exist by then), as the
// migrating login, which has CREATEROLE.
func SetPasswords(ctx context.Context, db *DB, passwords map[Role]string) error {
	for _, r := range Roles() {
		p, ok := passwords[r]
		if !ok || p == "" {
			continue
		}
		// ALTER ROLE takes no parameters; the password is quoted as a
		// literal by the server's own quote_literal.
		var stmt string
		if err := db.Pool.QueryRow(ctx, `SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)`,
			string(r), p).Scan(&stmt); err != nil {
			return fmt.Errorf("setting the password of %s: %w", r, err)
		}
		if err := retryConcurrentRoleChange(ctx, func() error {
			_, err := db.Pool.Exec(ctx, stmt, pgx.QueryExecModeSimpleProtocol)
			return err
		}); err != nil {
			return fmt.Errorf("setting the password of %s: %w", r, err)
		}
	}
	return nil
}

// URLAs is rawURL with role as its user name and no password (the
// password is given apart, WithPassword).
func URLAs(rawURL string, role Role) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("parsing database url: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("parsing database url: want a postgres:// URL, not %q", u.Scheme)
	}
	u.User = url.User(string(role))
	return u.String(), nil
}
