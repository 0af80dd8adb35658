package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestSIGTERMFinishesTheCallInFlight runs the production binary as the
// cleanup service, gives it a sweep that takes a while, and sends SIGTERM
// while the call is in flight: the call completes (2xx, every event stored)
// and the process exits 0 afterwards.
func TestSIGTERMFinishesTheCallInFlight(t *testing.T) {
	bin := testenv.BuildMain(t, "function")
	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.PostgresURL(t)
	ctx := context.Background()
	db, err := database.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	b, err := backend.New(rdb, db, prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	ten, err := b.Tenants.Create(ctx, "Acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	// 20 licenses × 1,000 sessions with a one-second lease, left to expire.
	script := redis.NewScript(lua.Load().Acquire.Source)
	// Pipelined Run sends EVALSHA only: the script must be in Redis's
	// cache first (it was only when another test had loaded it).
	if err := script.Load(ctx, rdb).Err(); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		l, _, err := b.Licenses.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: 1000, LeaseTTLSeconds: 1, Leasing: "per_fingerprint"})
		if err != nil {
			t.Fatal(err)
		}
		sl, err := b.Licenses.SeatLicenseOf(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Seats.SyncLicense(ctx, sl); err != nil {
			t.Fatal(err)
		}
		base := prefix + "{" + l.ID + "}:"
		keys := []string{base + "m", base + "l", base + "i", base + "u", base + "b", base + "e", base + "n", base + "o"}
		if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := range 1000 {
				script.Run(ctx, p, keys, sl.KeyHash, fmt.Sprint("ws-", j), fmt.Sprint("tok", j), "", "", "", "", "", 0, 0)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "REDIS_URL="+testenv.RedisURL(), "REDIS_KEY_PREFIX="+prefix,
		"DATABASE_URL="+dbURL, "PORT="+port, "FUNCTION_TARGET=Cleanup")
	logs := &testenv.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not listening:\n%s", logs)
		}
	}

	type answer struct {
		status int
		err    error
		at     time.Time
	}
	answered := make(chan answer, 1)
	go func() {
		status, err := sendEvent("http://127.0.0.1:"+port, pubsubHeaders, pubsubBody)
		answered <- answer{status: status, err: err, at: time.Now()}
	}()
	time.Sleep(150 * time.Millisecond)
	signalled := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var got answer
	select {
	case got = <-answered:
		if got.err != nil || got.status/100 != 2 {
			t.Fatalf("the call in flight got %d %v\n%s", got.status, got.err, logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the call in flight was never answered\n%s", logs)
	}
	if !got.at.After(signalled) {
		t.Fatalf("the sweep finished before SIGTERM (%v before); the test proves nothing\n%s", signalled.Sub(got.at), logs)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("did not exit after SIGTERM\n%s", logs)
	}
	var stored int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM usage_events`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 40000 || !strings.Contains(logs.String(), `"message":"stopped"`) {
		t.Fatalf("%d events stored (want 40000)\n%s", stored, logs)
	}
}
