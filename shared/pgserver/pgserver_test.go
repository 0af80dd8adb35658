package pgserver

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLifecycle drives one cluster through everything a fault test does to
// it: a row written before each stop, kill or freeze is there after.
func TestLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, t.Logf)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	execSQL(t, s.URL(), `CREATE TABLE marks (n int)`)
	count := func() int {
		t.Helper()
		var n int
		query(t, s.URL(), `SELECT count(*) FROM marks`, &n)
		return n
	}

	execSQL(t, s.URL(), `INSERT INTO marks VALUES (1)`)
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if c, err := connect(ctx, s.URL()); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	url := s.URL()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if s.URL() != url {
		t.Fatalf("URL changed across a restart: %s, then %s", url, s.URL())
	}
	if n := count(); n != 1 {
		t.Fatalf("after Stop and Start: %d rows, want 1", n)
	}

	// A connection opened before the freeze hangs until its own deadline.
	held, err := connect(ctx, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(context.Background())
	if err := s.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	const bound = 500 * time.Millisecond
	qctx, qcancel := context.WithTimeout(ctx, bound)
	began := time.Now()
	err = held.Ping(qctx)
	qcancel()
	if err == nil {
		t.Fatal("a frozen server answered")
	}
	if took := time.Since(began); took > bound+2*time.Second {
		t.Fatalf("a query on a frozen server took %v with a %v deadline", took, bound)
	}
	if err := s.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	execSQL(t, s.URL(), `INSERT INTO marks VALUES (2)`)

	if err := s.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatalf("Start after Kill: %v", err)
	}
	if n := count(); n != 2 {
		t.Fatalf("after Kill and Start: %d rows, want 2", n)
	}

	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(s.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("directory %s still there after Close (stat error: %v)", s.Dir(), err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, url)
}

func execSQL(t *testing.T, url, sql string) {
	t.Helper()
	c, err := connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func query(t *testing.T, url, sql string, dst ...any) {
	t.Helper()
	c, err := connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close(context.Background())
	if err := c.QueryRow(context.Background(), sql).Scan(dst...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestCompareVersionsForPostgresDirs(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"15", "9.6", 1},
		{"9.6", "10", -1},
		{"16", "16", 0},
		{"17", "devel", 1},
	} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
