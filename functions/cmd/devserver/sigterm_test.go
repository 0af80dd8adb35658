package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/functions/cmd/internal/server"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// call is one request of a load client, as the client saw it.
type call struct {
	path     string
	started  time.Time
	wrote    time.Time // the request was written in full (zero: never)
	finished time.Time
	status   int // 0: no complete answer
	err      error
}

// refused reports whether the call never reached the server because a new
// connection was refused: what a client of a server that has stopped
// accepting sees, and nothing was lost.
func (c call) refused() bool {
	return c.wrote.IsZero() && errors.Is(c.err, syscall.ECONNREFUSED)
}

// post sends one JSON call and reads its whole answer, tracing whether the
// request was written before anything failed.
func post(client *http.Client, url, path string, body any, out any) call {
	c := call{path: path, started: time.Now()}
	enc, err := json.Marshal(body)
	if err != nil {
		c.err = err
		return c
	}
	var mu sync.Mutex // the trace's hooks may run on the transport's goroutines
	trace := &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			mu.Lock()
			defer mu.Unlock()
			if info.Err == nil {
				c.wrote = time.Now()
			}
		},
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
		http.MethodPost, url+path, bytes.NewReader(enc))
	if err != nil {
		c.err = err
		return c
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err == nil {
		var raw []byte
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			if err = json.Unmarshal(raw, out); err == nil {
				c.status = resp.StatusCode
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	c.err, c.finished = err, time.Now()
	return c
}

// TestSIGTERMUnderLoad: each entry point (make run's server, and the
// production binary serving every function) gets SIGTERM while 50 clients
// acquire, heartbeat and release in loops over keep-alive connections. It
// must stop accepting, answer every request it was sent in full (a reset or
// an EOF on a request that was written fails the test; a refused new
// connection once shutdown began is what a client should see), and exit 0.
func TestSIGTERMUnderLoad(t *testing.T) {
	for _, ep := range entryPoints(t) {
		t.Run(ep.name, func(t *testing.T) { sigtermUnderLoad(t, ep) })
	}
}

func sigtermUnderLoad(t *testing.T, ep entryPoint) {
	_, prefix := testenv.Redis(t)
	d := newDevProcess(t, testenv.BuildMainAt(t, ep.name, ep.dir), append([]string{
		"REDIS_URL=" + testenv.RedisURL(), "REDIS_KEY_PREFIX=" + prefix, "DATABASE_URL=" + testenv.PostgresURL(t),
		"BOOTSTRAP_ADMIN_TOKEN=" + processToken, "RATE_LIMIT_LICENSE=0", "LOG_LEVEL=warn",
	}, ep.env...))
	d.start()
	const clients = 50
	_, key := d.license(clients, 300)

	transport := &http.Transport{MaxIdleConnsPerHost: clients, IdleConnTimeout: time.Minute}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 60 * time.Second}
	var (
		mu    sync.Mutex
		calls []call
	)
	record := func(c call) bool {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, c)
		// A client stops at its first failure: once refused, the server is
		// gone for it; anything else fails the test below.
		return c.err == nil && c.status == http.StatusOK
	}
	stop := time.Now().Add(60 * time.Second) // a bound, should the server never stop
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			var seat struct {
				SessionID string `json:"session_id"`
			}
			for time.Now().Before(stop) {
				if !record(post(client, d.url(), "/v1/acquire",
					map[string]any{"license_key": key, "fingerprint": fmt.Sprintf("ws-%d", i)}, &seat)) {
					return
				}
				session := map[string]any{"session_id": seat.SessionID}
				var answer map[string]any
				for _, path := range []string{"/v1/heartbeat", "/v1/heartbeat", "/v1/release"} {
					if !record(post(client, d.url(), path, session, &answer)) {
						return
					}
				}
			}
		})
	}

	// Load long enough that every client holds a kept-alive connection.
	time.Sleep(1500 * time.Millisecond)
	signalled := time.Now()
	d.signal(syscall.SIGTERM)
	exitErr := d.wait(server.Defaults().ShutdownTimeout + 15*time.Second)
	exited := time.Now()
	wg.Wait()

	if exitErr != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0\n%s", exitErr, d.output())
	}
	var before, inFlight, after, refused, refusedWhileUp int
	var bad []call
	for _, c := range calls {
		switch {
		case c.refused() && c.finished.After(signalled):
			refused++
			if c.finished.Before(exited) {
				refusedWhileUp++
			}
		case c.err != nil || c.status != http.StatusOK:
			bad = append(bad, c)
		case c.finished.Before(signalled):
			before++
		case c.wrote.Before(signalled):
			inFlight++
		default:
			after++
		}
	}
	t.Logf("%d calls answered before SIGTERM, %d written before and answered after, %d sent and answered after, "+
		"%d refused (%d before the process was gone)", before, inFlight, after, refused, refusedWhileUp)
	for i, c := range bad {
		if i == 10 {
			t.Errorf("... and %d more", len(bad)-10)
			break
		}
		t.Errorf("%s started %v after SIGTERM (written: %v): status %d, %v",
			c.path, c.started.Sub(signalled), !c.wrote.IsZero(), c.status, c.err)
	}
	if len(bad) > 0 {
		t.Fatalf("%d calls were not answered in full\n%s", len(bad), d.output())
	}
	// Not a vacuous pass: the load ran, calls were in flight at the signal
	// and finished after it, and new connections were refused while the
	// process was still finishing.
	if before < 3*clients || inFlight == 0 || refusedWhileUp == 0 {
		t.Fatalf("the test proved nothing: %d calls before SIGTERM, %d in flight at it, %d refused while up",
			before, inFlight, refusedWhileUp)
	}
	if !strings.Contains(d.output(), ep.stopped) {
		t.Fatalf("no orderly stop logged\n%s", d.output())
	}
}

// entryPoint is a main package that serves the API, as a process.
type entryPoint struct {
	name string
	dir  string   // the main package, from this test's directory
	env  []string // what it needs beyond Redis, PostgreSQL and the admin token
	// stopped is what its output holds after an orderly shutdown.
	stopped string
}

// entryPoints are the two ways the API is served, through the same
// server code (functions/cmd/internal/server): make run, and production
// with no FUNCTION_TARGET (every function; production refuses to start
// without a root key, so it gets one).
func entryPoints(t *testing.T) []entryPoint {
	return []entryPoint{
		{name: "devserver", dir: ".", stopped: "devserver: stopped"},
		// Its orderly stop is logged at info.
		{name: "function", dir: filepath.Join("..", "function"), stopped: `"message":"stopped"`,
			env: append([]string{"SIGNING_LOCAL_KEY_PEM=" + rootKeyFile(t), "LOG_LEVEL=info"}, slices.Concat(testenv.NotifyEnv(t), testenv.BillingEnv(""))...)},
	}
}
