// Command migrate applies the schema migrations to DATABASE_URL. Migrations
// run from here (and from the local server), never at a function's cold
// start, so a scale-out of many instances never races on DDL.
//
// It reads its configuration as the functions do: any variable may be a
// secret:// reference, and DATABASE_PASSWORD, when set, is the password
// (so the URL need not carry it), exactly as the functions connect. It
// connects as the migrating login (license_migrate: CREATEROLE, a member of
// license_owner, never a superuser) and, after the migrations, sets the
// password of each function role given one in DATABASE_PASSWORD_SEATS,
// _ADMIN, _READER and _CLEANUP.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/secrets"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config.Env, secrets.OpenManager, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

// maxConns bounds the migration's pool: Migrate holds one connection (the
// advisory lock's session) for every migration, and setting the roles'
// passwords after it takes one; the second is a spare so that nothing
// waits on the pool.
const maxConns = 2

// run migrates the database the configuration read through env names,
// opening Secret Manager with open when a variable references a secret,
// and reports what it applied to out.
func run(ctx context.Context, env config.Lookup, open secrets.Opener, out io.Writer) error {
	cfg, err := secrets.LoadConfig(ctx, env, open)
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	if cfg.Database.URL == "" {
		return errors.New("reading configuration: DATABASE_URL is not set")
	}
	// Its own bound, whatever DATABASE_MAX_CONNS says: terraform's
	// connection budget counts maxConns for a migration running while
	// every function is at its max-scale.
	cfg.Database.MaxConns = maxConns
	db, err := backend.OpenDatabase(ctx, cfg.Database, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := database.Migrate(ctx, db, schema.Files)
	if err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	fmt.Fprintf(out, "migrations applied: %v\n", applied)
	// The function roles exist now (schema/005); each given a password
	// (DATABASE_PASSWORD_<CLASS>) may log in with it.
	passwords := map[database.Role]string{}
	var set []string
	for _, r := range database.Roles() {
		if p := cfg.Database.RolePasswords[r.Class()]; p != "" {
			passwords[r] = p
			set = append(set, string(r))
		}
	}
	if err := database.SetPasswords(ctx, db, passwords); err != nil {
		return fmt.Errorf("setting the function roles' passwords: %w", err)
	}
	fmt.Fprintf(out, "passwords set: %v\n", set)
	return nil
}
