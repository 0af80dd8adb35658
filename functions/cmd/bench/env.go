package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// adminToken is the bench server's bootstrap token (it lives as long as the
// run, on loopback).
const adminToken = "bench-admin-token-0123456789abcdef-0123456789"

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// database creates a fresh database on the server and returns its URL and
// a function that drops it.
func database(ctx context.Context, admin string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s: %w", admin, err)
	}
	defer conn.Close(ctx)
	name := "license_bench_" + randomHex(4)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("creating the bench database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: dropping database:", err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintln(os.Stderr, "bench: dropping database:", err)
		}
	}
	return u.String(), drop, nil
}

// removeKeys deletes every key under prefix (SCAN is fine here: the bench's
// own prefix, after the run).
func removeKeys(rdb *redis.Client, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() {
		if len(batch) > 0 {
			rdb.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			flush()
		}
	}
	flush()
}

// server is the local server under test, in its own process, as `make run`
// runs it.
type server struct {
	url     string
	cmd     *exec.Cmd
	done    chan error
	stopped sync.Once
}

func startServer(ctx context.Context, bin string, env []string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append(env, "PORT="+port)...)
	// One log line per request, as in production, but not on the terminal.
	// A file, not io.Discard: that would make exec copy every line through
	// a pipe into this process, CPU charged to the load generator.
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devNull.Close()
	cmd.Stdout, cmd.Stderr = devNull, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s (make bench builds it): %w", bin, err)
	}
	s := &server{url: "http://127.0.0.1:" + port, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-s.done:
			return nil, fmt.Errorf("server exited: %v", err)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		if resp, err := http.Get(s.url + "/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not become ready in 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits (the server drains and exits).
// Only the first call does anything.
func (s *server) stop() {
	s.stopped.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// counter reads one counter's total from the server's /metrics, summed over
// the series whose labels contain one of the given strings (all series when
// none is given); -1 when the server does not export it.
func (s *server) counter(name string, labels ...string) float64 {
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		return -1
	}
	total, found := 0.0, false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if len(labels) > 0 && !slices.ContainsFunc(labels, func(l string) bool { return strings.Contains(line, l) }) {
			found = true // the family exists; this series is not counted
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			total += v
			found = true
		}
	}
	if !found {
		return -1
	}
	return total
}

// calls are the server's own counts of PostgreSQL queries (those made by
// the seat calls, and all) and KMS calls; a count is -1 when the server
// does not export it.
type calls struct{ pgHot, pgAll, kms float64 }

func (s *server) calls() calls {
	hotPath := []string{`function="Acquire"`, `function="Heartbeat"`, `function="Release"`}
	return calls{pgHot: s.counter("license_postgres_queries_total", hotPath...),
		pgAll: s.counter("license_postgres_queries_total"), kms: s.counter("license_kms_calls_total")}
}

// since is the calls made between then and c.
func (c calls) since(then calls) calls {
	return calls{pgHot: c.pgHot - then.pgHot, pgAll: c.pgAll - then.pgAll, kms: c.kms - then.kms}
}
