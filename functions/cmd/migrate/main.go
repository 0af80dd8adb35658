// Command migrate applies the schema migrations to DATABASE_URL. Migrations
// run from here (and from the local server), never at a function's cold
// start, so a scale-out of many instances never races on DDL.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/database"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "migrate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL is not set")
	}
	db, err := database.Open(ctx, url)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := database.Migrate(ctx, db, schema.Files)
	if err != nil {
		return err
	}
	fmt.Printf("migrations applied: %v\n", applied)
	return nil
}
