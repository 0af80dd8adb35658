package httpjson_test

// This test is the one place httpjson's classification meets the real
// clients: httpjson imports neither pgx nor go-redis (nor shared/database),
// so only their errors, made here by real calls, show that what it looks for
// (SQLState, SafeToRetry, RedisError, the go-redis pool errors' text, the
// Unavailable mark shared/database puts on a failed connection) is what they
// return. A client upgrade that changes any of it fails here.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// silentListener accepts connections and never answers, as a frozen server
// does (the kernel completes the handshake, nothing reads).
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// replyingListener answers every line it reads with reply, as a Redis that
// is loading its data answers every command.
func replyingListener(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
					if _, err := c.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// missingDatabase is the URL of a database the test server does not have:
// the server turns the login away (SQLSTATE 3D000), a connection failure
// with no network error in it.
func missingDatabase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(testenv.PostgresAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/license_test_no_such_database"
	return u.String()
}

// TestUnavailableOnRealBackendFailures feeds Unavailable the errors the
// real clients return when a backend is down, frozen or busy: each must be
// a 503 to retry, never a 500.
func TestUnavailableOnRealBackendFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dead := testenv.DeadAddress(t)
	frozen := silentListener(t)

	pgErr := func(addr string) error {
		c, err := pgx.Connect(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable&connect_timeout=1")
		if err == nil {
			c.Close(ctx)
			t.Fatalf("connected to %s", addr)
		}
		return err
	}
	// A pool that has not connected yet, as shared/database holds one: its
	// first transaction or ping makes the connection attempt.
	lazyDB := func(rawURL string) *database.DB {
		pool, err := pgxpool.New(ctx, rawURL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return &database.DB{Pool: pool, Timeout: 2 * time.Second}
	}
	txErr := func(db *database.DB) error {
		err := db.InTx(ctx, func(pgx.Tx) error { return nil })
		if err == nil {
			t.Fatal("transaction succeeded")
		}
		return err
	}
	openErr := func(rawURL string) error {
		db, err := database.Open(ctx, rawURL)
		if err == nil {
			db.Close()
			t.Fatalf("opened %s", rawURL)
		}
		return err
	}
	// A statement sent after the request's context ended: pgx says it never
	// reached the server.
	canceled := func() error {
		c, err := pgx.Connect(ctx, testenv.PostgresAdminURL())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		done, cancel := context.WithCancel(ctx)
		cancel()
		_, err = c.Exec(done, "SELECT 1")
		if err == nil {
			t.Fatal("statement ran on an ended context")
		}
		return err
	}
	redisErr := func(opts *redis.Options, f func(*redis.Client) error) error {
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		err := f(rdb)
		if err == nil {
			t.Fatalf("redis call to %s succeeded", opts.Addr)
		}
		return err
	}
	replying := func(reply string) error {
		return redisErr(&redis.Options{Addr: replyingListener(t, reply), MaxRetries: -1, Protocol: 2, DisableIdentity: true},
			func(rdb *redis.Client) error { return rdb.Ping(ctx).Err() })
	}
	ping := func(rdb *redis.Client) error { return rdb.Ping(ctx).Err() }
	// One call holds the only connection on the frozen server; the second
	// waits for the pool and gives up: redis.ErrPoolTimeout.
	poolTimeout := func(rdb *redis.Client) error {
		go rdb.Get(ctx, "held")
		time.Sleep(100 * time.Millisecond)
		return rdb.Get(ctx, "waits").Err()
	}
	closed := func() error {
		rdb := redis.NewClient(&redis.Options{Addr: dead})
		rdb.Close()
		return rdb.Ping(ctx).Err()
	}
	cases := []struct {
		name string
		err  error
	}{
		{"postgres refused", pgErr(dead)},
		{"postgres frozen (connect timeout)", pgErr(frozen)},
		{"postgres refused, in a transaction", txErr(lazyDB("postgres://postgres@" + dead + "/postgres?sslmode=disable"))},
		{"postgres login refused, in a transaction", txErr(lazyDB(missingDatabase(t)))},
		{"postgres login refused, on a ping", lazyDB(missingDatabase(t)).Ping(ctx)},
		{"postgres login refused, on open", openErr(missingDatabase(t))},
		{"postgres statement after the context ended", canceled()},
		{"postgres admin shutdown", fmt.Errorf("query: %w", &pgconn.PgError{Code: "57P01"})},
		{"postgres crash shutdown", &pgconn.PgError{Code: "57P02"}},
		{"postgres starting up", fmt.Errorf("connect: %w", &pgconn.PgError{Code: "57P03"})},
		{"postgres too many connections", &pgconn.PgError{Code: "53300"}},
		{"postgres connection failure", &pgconn.PgError{Code: "08006"}},
		{"redis refused", redisErr(&redis.Options{Addr: dead, MaxRetries: -1}, ping)},
		{"redis frozen (read timeout)", redisErr(&redis.Options{Addr: frozen, ReadTimeout: 200 * time.Millisecond,
			MaxRetries: -1, Protocol: 2, DisableIdentity: true}, ping)},
		{"redis pool timeout", redisErr(&redis.Options{Addr: frozen, PoolSize: 1, PoolTimeout: 200 * time.Millisecond,
			ReadTimeout: 2 * time.Second, MaxRetries: -1, Protocol: 2, DisableIdentity: true}, poolTimeout)},
		{"redis pool timeout (the value)", fmt.Errorf("seats: %w", redis.ErrPoolTimeout)},
		{"redis pool exhausted (the value)", fmt.Errorf("seats: %w", redis.ErrPoolExhausted)},
		{"redis client closed", closed()},
		{"redis client closed, joined", errors.Join(errors.New("release"), redis.ErrClosed)},
		{"redis loading", replying("-LOADING Redis is loading the dataset in memory\r\n")},
		{"redis replica", replying("-READONLY You can't write against a read only replica.\r\n")},
		{"redis replica, from a script", replying("-ERR Error running script (call to f_0): @user_script:1: " +
			"-READONLY You can't write against a read only replica.\r\n")},
		{"redis cluster down", replying("-CLUSTERDOWN The cluster is down\r\n")},
		{"redis try again", replying("-TRYAGAIN Multiple keys request during rehashing of slot\r\n")},
		{"redis master down", replying("-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n")},
		{"redis max clients", replying("-ERR max number of clients reached\r\n")},
		{"redis busy script", replying("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n")},
		{"redis busy script (ERR first)", replying("-ERR BUSY Redis is busy running a script.\r\n")},
	}
	for _, c := range cases {
		t.Logf("%s: %v", c.name, c.err)
		if !httpjson.Unavailable(c.err) {
			t.Errorf("%s: Unavailable(%v) = false, want a 503", c.name, c.err)
		}
		w := httptest.NewRecorder()
		httpjson.WriteError(w, httptest.NewRequest("GET", "/", nil), c.err)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: WriteError = %d (Retry-After %q), want 503 with Retry-After", c.name, w.Code, w.Header().Get("Retry-After"))
		}
	}
	// Errors retrying cannot fix stay 500s.
	for _, err := range []error{
		nil,
		&pgconn.PgError{Code: "23505"}, // unique violation
		&pgconn.PgError{Code: "42P01"}, // undefined table
		pgx.ErrNoRows,
		context.Canceled,
		redis.Nil,
		errors.New("redis: nil"),
		replying("-ERR unknown command 'PING'\r\n"),
		replying("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
		replying("-NOSCRIPT No matching script. Please use EVAL.\r\n"),
		replying("-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
		errors.New("the word LOADING inside a message"),
	} {
		if httpjson.Unavailable(err) {
			t.Errorf("Unavailable(%v) = true, want false", err)
		}
	}
}
