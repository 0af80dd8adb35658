package e2e_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/database"
)

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRedisDown(t *testing.T) {
	t.Parallel()
	healthy := newAPI(t)
	tenant := healthy.tenant("acme")
	id, key := healthy.license(tenant, nil)
	sid := healthy.expect(healthy.acquire(key, "ws"), 200, "").str("session_id")

	dead := redis.NewClient(&redis.Options{Addr: deadAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	b, err := backend.New(dead, healthy.b.DB, healthy.prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	a := serve(t, b)

	r := a.expect(a.call("GET", "/ready", "", nil), 503, "not_ready")
	if checks, _ := r.body["checks"].(map[string]any); checks["redis"] != "unavailable" || checks["postgres"] != "ok" {
		t.Fatalf("ready = %s", r.raw)
	}
	a.expect(a.call("GET", "/health/", "", nil), 200, "")
	for _, r := range []reply{a.acquire(key, "ws-2"), a.heartbeat(sid), a.release(sid)} {
		a.expect(r, 503, "unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Fatalf("503 without Retry-After: %s", r.raw)
		}
	}
	// A change that PostgreSQL took but Redis could not is a 503 to retry.
	path := "/v1/tenants/" + tenant + "/licenses/" + id
	a.expect(a.admin("PATCH", path, map[string]any{"seats": 9}), 503, "unavailable")
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant, map[string]any{"status": "suspended"}), 503, "unavailable")
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant, map[string]any{"status": "active"}), 503, "unavailable")
	// Creating still works: Redis is warmed lazily on first acquire.
	_, newKey := a.license(tenant, map[string]any{"seats": 3})
	// Retrying on the healthy server applies the change.
	healthy.expect(healthy.admin("PATCH", path, map[string]any{"seats": 9}), 200, "")
	if g := healthy.expect(healthy.acquire(key, "ws-2"), 200, ""); g.num("seats_total") != 9 {
		t.Fatalf("retried change not in effect: %s", g.raw)
	}
	if g := healthy.expect(healthy.acquire(newKey, "ws"), 200, ""); g.num("seats_total") != 3 {
		t.Fatalf("license created while Redis was down: %s", g.raw)
	}
	if !strings.Contains(a.logs(), `"severity":"ERROR"`) || !strings.Contains(a.logs(), "connection refused") {
		t.Fatalf("the Redis failure was not logged:\n%s", a.logs())
	}
}

func TestPostgresDownKeepsTheHotPath(t *testing.T) {
	t.Parallel()
	healthy := newAPI(t)
	tenant := healthy.tenant("acme")
	_, key := healthy.license(tenant, map[string]any{"seats": 2})
	coldID, coldKey := healthy.license(tenant, map[string]any{"seats": 2})
	if err := healthy.b.Redis.Del(context.Background(), healthy.prefix+"{"+coldID+"}:m").Err(); err != nil {
		t.Fatal(err)
	}

	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+deadAddr(t)+"/postgres?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b, err := backend.New(healthy.b.Redis, &database.DB{Pool: pool}, healthy.prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	a := serve(t, b)

	r := a.expect(a.call("GET", "/ready", "", nil), 503, "not_ready")
	if checks, _ := r.body["checks"].(map[string]any); checks["postgres"] != "unavailable" || checks["redis"] != "ok" {
		t.Fatalf("ready = %s", r.raw)
	}
	// Acquire, heartbeat and release need no PostgreSQL for a license Redis knows.
	sid := a.expect(a.acquire(key, "ws"), 200, "").str("session_id")
	a.expect(a.heartbeat(sid), 200, "")
	a.expect(a.release(sid), 200, "")
	// A license Redis does not know yet cannot be checked: 503, never a 404.
	a.expect(a.acquire(coldKey, "ws"), 503, "unavailable")
	a.expect(a.admin("GET", "/v1/tenants", nil), 503, "unavailable")
	a.expect(a.admin("POST", "/v1/tenants", map[string]any{"name": "x", "slug": "x"}), 503, "unavailable")
}
