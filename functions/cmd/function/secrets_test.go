package main

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// TestFunctionsWithoutBackendsStartWithoutTheirSecrets runs the production
// binary as the OpenAPI, Keys and Health services are deployed (issue 16,
// finding 2): OpenAPI with nothing at all, Keys with only its signing key,
// Health with only the addresses of a Redis that requires AUTH and a
// PostgreSQL that requires a password, and no REDIS_PASSWORD or
// DATABASE_PASSWORD. Each starts and serves; Health's /ready is 200 because
// both servers answer their protocols, which needs no password.
func TestFunctionsWithoutBackendsStartWithoutTheirSecrets(t *testing.T) {
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "REDIS_") || strings.HasPrefix(kv, "DATABASE_") {
			t.Fatalf("the test's own environment has %s: it must run without", strings.SplitN(kv, "=", 2)[0])
		}
	}
	bin := testenv.BuildMain(t, "function")

	s := start(t, bin, "OpenAPI", nil)
	if status, body := call(t, "GET", s.url+"/v1/openapi.json", nil); status != 200 || body["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %d %v", status, body["openapi"])
	}

	// The console: its settings, and its pages (or, in a binary built
	// before the console, the envelope that says so) with nothing set.
	s = start(t, bin, "Console", nil)
	if status, body := call(t, "GET", s.url+"/console/config.json", nil); status != 200 || body["token_sign_in"] != true {
		t.Fatalf("console settings: %d %v", status, body)
	}
	if status, body := call(t, "GET", s.url+"/console/", nil); status != 200 && (status != 503 || body["error"] == nil) {
		t.Fatalf("console page: %d %v", status, body)
	}

	der, err := x509.MarshalPKCS8PrivateKey(kmsfake.Key(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	s = start(t, bin, "Keys", []string{"SIGNING_LOCAL_KEY_PEM=" + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))})
	if status, body := call(t, "GET", s.url+"/v1/keys", nil); status != 200 || len(body["keys"].([]any)) != 1 {
		t.Fatalf("keys: %d %v", status, body)
	}

	redisPort := testenv.PrivateRedis(t, false, "--requirepass", "memorystore-auth")
	pg := testenv.EmptyPrivatePostgres(t)
	pg.RequirePassword(t)
	s = start(t, bin, "Health", []string{
		"REDIS_URL=redis://127.0.0.1:" + strconv.Itoa(redisPort),
		"DATABASE_URL=postgres://license_server@127.0.0.1:" + strconv.Itoa(pg.Port()) + "/licenses?sslmode=disable",
	})
	status, body := call(t, "GET", s.url+"/ready", nil)
	if checks, _ := body["checks"].(map[string]any); status != 200 || body["status"] != "ready" ||
		checks["redis"] != "ok" || checks["postgres"] != "ok" {
		t.Fatalf("ready: %d %v", status, body)
	}
	// Once a backend is gone, /ready names it, as before.
	pg.Stop()
	status, body = call(t, "GET", s.url+"/ready", nil)
	if checks, _ := body["checks"].(map[string]any); status != 503 || checks["postgres"] != "unavailable" || checks["redis"] != "ok" {
		t.Fatalf("ready with PostgreSQL stopped: %d %v", status, body)
	}
}
