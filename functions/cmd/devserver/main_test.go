package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/functions/cmd/internal/server"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestWalkthrough runs `make run`'s defaults (embedded Redis, throwaway
// PostgreSQL, generated token) and pastes the printed walkthrough into bash,
// as a new user would.
func TestWalkthrough(t *testing.T) {
	ln, out := serve(t, nil)
	token := regexp.MustCompile(`Admin token \(Authorization: Bearer \.\.\.\): (\S+)`).FindStringSubmatch(out.String())
	if token == nil || len(token[1]) < 32 {
		t.Fatalf("no admin token printed:\n%s", out.String())
	}
	script := walkthroughFor(baseURL(ln), token[1])
	if !strings.Contains(out.String(), script) {
		t.Fatalf("the printed walkthrough is not the one tested")
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, got)
	}
	for _, want := range []string{
		`{"status":"ok"}`,
		`{"checks":{"postgres":"ok","redis":"ok"},"status":"ready"}`,
		`"key":"lk_`,
		`"seats":2,"seats_used":0`,
		`"seats":2,"seats_used":1`,
		`"fingerprint":"laptop-1"`,
		`"heartbeat_interval_seconds":20`,
		`{"released":true,"seat_freed":true}`,
		"cleanup: 204",
		`"group_by":"user","granularity":"day","buckets":[{"key":"ada"`,
		`"peak_seats":1`,
		// People and the operator's controls (issue 17).
		`"email":"ada@example.com","role":"admin"`,
		`"status":"pending"`,
		`"platform_admin":true`,
		"new key: lk_",
		"end session: 204",
		"heartbeat of the ended session: 403",
		`{"revoked":0}`,
	} {
		if !strings.Contains(string(got), want) {
			t.Errorf("walkthrough output lacks %s:\n%s", want, got)
		}
	}
	if regexp.MustCompile(`tenant: [0-9a-f-]{36}\n`).FindString(string(got)) == "" ||
		regexp.MustCompile(`session: [0-9a-f]{32}\.[A-Za-z0-9_-]{22}\n`).FindString(string(got)) == "" {
		t.Errorf("walkthrough did not capture ids:\n%s", got)
	}
	if strings.Contains(string(got), `"error"`) {
		t.Errorf("walkthrough hit an error:\n%s", got)
	}

	// make run serves its metrics beside the API.
	resp, err := http.Get(baseURL(ln) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`license_acquire_outcomes_total{outcome="granted"} 2`, // laptop-1, then laptop-2 on the rotated key
		`license_http_server_requests_total{code="200",function="Heartbeat",method="POST",route="/v1/heartbeat"} 1`,
		`license_cleanup_runs_total{result="ok"}`,
		`script="release",status="ok"} 1`, // EVALSHA or, on a cold script cache, EVAL
	} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics = %d, lacks %s:\n%s", resp.StatusCode, want, body)
		}
	}
}

// TestTimerSweeps checks make run's stand-in for the production schedule:
// with nobody calling /internal/cleanup, a session left to expire is swept
// and its events reach the ledger.
func TestTimerSweeps(t *testing.T) {
	ln, out := serve(t, map[string]string{"CLEANUP_INTERVAL": "300ms"})
	token := regexp.MustCompile(`Admin token \(Authorization: Bearer \.\.\.\): (\S+)`).FindStringSubmatch(out.String())[1]
	script := `API=` + baseURL(ln) + ` TOKEN=` + token + `
TENANT=$(curl -s -X POST $API/v1/tenants -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name":"Acme","slug":"acme"}' | sed -E 's/.*"id":"([^"]+)".*/\1/')
KEY=$(curl -s -X POST $API/v1/tenants/$TENANT/licenses -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"product":"coditect","seats":2,"lease_ttl_seconds":1}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
curl -s -X POST $API/v1/acquire -H 'Content-Type: application/json' -d '{"license_key":"'$KEY'","fingerprint":"ws"}'
`
	if got, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput(); err != nil || !strings.Contains(string(got), `"session_id"`) {
		t.Fatalf("setup: %v\n%s", err, got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), `"expired":1`) {
		if time.Now().After(deadline) {
			t.Fatalf("the timer did not sweep the expired session:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"type":"dev.knative.sources.ping"`) {
		t.Fatalf("no timer run logged:\n%s", out.String())
	}
}

// TestSlowClientsCannotHoldTheServer opens 200 connections that send their
// headers a byte at a time (slowloris), to make run's server and to the
// production binary: a normal request still gets its answer at once, and
// the server drops each slow connection once ReadHeaderTimeout has passed.
func TestSlowClientsCannotHoldTheServer(t *testing.T) {
	t.Run("make run", func(t *testing.T) {
		t.Parallel()
		ln, _ := serve(t, nil)
		slowloris(t, ln.Addr().String())
	})
	t.Run("production", func(t *testing.T) {
		t.Parallel()
		_, prefix := testenv.Redis(t)
		d := newDevProcess(t, testenv.BuildMainAt(t, "function", filepath.Join("..", "function")), []string{
			"REDIS_URL=" + testenv.RedisURL(), "REDIS_KEY_PREFIX=" + prefix, "DATABASE_URL=" + testenv.PostgresURL(t),
			"FUNCTION_TARGET=Health", "LOG_LEVEL=warn",
		})
		d.start()
		slowloris(t, "127.0.0.1:"+d.port)
	})
}

func slowloris(t *testing.T, addr string) {
	const slow = 200
	readHeaderTimeout := server.Defaults().ReadHeaderTimeout
	closed := make(chan time.Duration, slow)
	start := time.Now()
	for i := range slow {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			// A byte every 200 ms, never finishing the headers.
			req := "GET /health/ HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
			for j := 0; j < len(req); j++ {
				if _, err := c.Write([]byte{req[j]}); err != nil {
					closed <- time.Since(start)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
			closed <- -1
		}()
	}
	// The server still answers others, at once.
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/health/")
	if err != nil {
		t.Fatalf("a normal request while %d slow clients hold connections: %v", slow, err)
	}
	resp.Body.Close()
	// Every slow connection is cut after the header timeout, long before
	// its headers could finish (1,000+ bytes at 5 a second).
	for i := range slow {
		select {
		case after := <-closed:
			if after < 0 || after < readHeaderTimeout-time.Second || after > readHeaderTimeout+15*time.Second {
				t.Fatalf("slow connection %d cut after %v (header timeout %v)", i, after, readHeaderTimeout)
			}
		case <-time.After(readHeaderTimeout + 20*time.Second):
			t.Fatalf("only %d of %d slow connections were cut", i, slow)
		}
	}
}

// serve runs make run's server with env on a free port until the test ends,
// and returns its listener and output once it has printed its walkthrough.
func serve(t *testing.T, env map[string]string) (net.Listener, *testenv.LogBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, serveOn(t, ln, env)
}

// serveOn is serve on a listener of the test's.
func serveOn(t *testing.T, ln net.Listener, env map[string]string) *testenv.LogBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testenv.LogBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, config.MapLookup(env), out, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Try it") {
		select {
		case err := <-done:
			t.Fatalf("server exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not print its walkthrough:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The suite's log scan looks for the admin token, given or generated.
	if m := regexp.MustCompile(`TOKEN=(\S+)`).FindStringSubmatch(out.String()); m != nil {
		testenv.NoteSecret(t, m[1])
	}
	testenv.NoteSecret(t, env["BOOTSTRAP_ADMIN_TOKEN"])
	return out
}
