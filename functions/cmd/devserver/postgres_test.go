package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestThrowawayPostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	began := time.Now()
	p, err := startThrowawayPostgres(ctx, t.Logf)
	if err != nil {
		t.Fatalf("startThrowawayPostgres: %v", err)
	}
	started := time.Now()
	// Stop is idempotent, so this only matters when the test fails early.
	t.Cleanup(func() { _ = p.Stop() })

	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		t.Fatalf("connect to %s: %v", p.URL, err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("SELECT 1: %v", err)
	}
	if one != 1 {
		t.Fatalf("SELECT 1 = %d", one)
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatalf("close connection: %v", err)
	}

	stopBegan := time.Now()
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("start took %v, stop took %v", started.Sub(began).Round(time.Millisecond), time.Since(stopBegan).Round(time.Millisecond))

	if _, err := os.Stat(p.srv.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("temporary directory %s still there after Stop (stat error: %v)", p.srv.Dir(), err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}
