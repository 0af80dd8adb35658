package database_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/testenv"
)

func TestMigrateFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := database.Open(ctx, testenv.EmptyPostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	applied, err := database.Migrate(ctx, db, schema.Files)
	if err != nil || len(applied) == 0 || applied[0] != 1 {
		t.Fatalf("first run applied %v, %v", applied, err)
	}
	var tables int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name IN ('tenants','licenses')`).Scan(&tables); err != nil || tables != 2 {
		t.Fatalf("tables = %d, %v", tables, err)
	}
	again, err := database.Migrate(ctx, db, schema.Files)
	if err != nil || len(again) != 0 {
		t.Fatalf("second run applied %v, %v; want nothing", again, err)
	}
}

func TestMigrateFailureLeavesNothingHalfDone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := database.Open(ctx, testenv.EmptyPostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files := fstest.MapFS{
		"001_ok.sql":     {Data: []byte(`CREATE TABLE a (id int);`)},
		"002_broken.sql": {Data: []byte(`CREATE TABLE b (id int); SELECT * FROM nowhere;`)},
	}
	applied, err := database.Migrate(ctx, db, files)
	if err == nil || !strings.Contains(err.Error(), "002_broken.sql") || len(applied) != 1 {
		t.Fatalf("Migrate = %v, %v; want 001 applied and an error naming 002", applied, err)
	}
	var b int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'b'`).Scan(&b)
	if b != 0 {
		t.Fatal("the failed migration left table b behind")
	}
	if _, err := database.Migrate(ctx, db, fstest.MapFS{"1.sql": {Data: []byte(``)}}); err == nil {
		t.Fatal("a badly named migration was accepted")
	}
}
