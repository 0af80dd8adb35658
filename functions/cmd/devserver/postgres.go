package main

import (
	"context"

	"github.com/coditect-ai/license-server/shared/pgserver"
)

// throwawayPostgres is a PostgreSQL cluster in a temporary directory, for
// `make run` without DATABASE_URL; shared/pgserver runs it.
type throwawayPostgres struct {
	// URL is a pgx connection string for the cluster's "postgres" database.
	URL string
	srv *pgserver.Server
}

// startThrowawayPostgres runs initdb in a temporary directory and starts the
// server on a free port on 127.0.0.1, returning a URL such as
// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
func startThrowawayPostgres(ctx context.Context, logf func(format string, args ...any)) (*throwawayPostgres, error) {
	srv, err := pgserver.Start(ctx, logf)
	if err != nil {
		return nil, err
	}
	return &throwawayPostgres{URL: srv.URL(), srv: srv}, nil
}

// Stop stops the server and removes the temporary directory. Safe to call twice.
func (p *throwawayPostgres) Stop() error { return p.srv.Close() }
