package probe_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/probe"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// silent is a loopback address that accepts connections and never answers,
// as a frozen server does.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

// notIt is a loopback address where an HTTP server answers whatever it is
// sent: a server, but neither Redis nor PostgreSQL.
func notIt(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func ping(t *testing.T, p probe.Ping, err error) error {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return p(ctx)
}

// TestRedisProbeNeedsNoPassword: a Redis that requires AUTH answers the
// probe's PING with NOAUTH, which proves it is up and serving, so the
// probe's instance needs no AUTH string; a Redis that is not there, not
// Redis, or frozen fails the probe, within its deadline.
func TestRedisProbeNeedsNoPassword(t *testing.T) {
	t.Parallel()
	authPort := testenv.PrivateRedis(t, false, "--requirepass", "memorystore-auth")
	dir := t.TempDir()
	ca := testenv.NewCA(t, "test Memorystore CA")
	cert, key := ca.Issue(t, nil, net.ParseIP("127.0.0.1"))
	for name, data := range map[string][]byte{"ca.pem": []byte(ca.PEM), "server.pem": cert, "server.key": key} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tlsPort := testenv.PrivateRedis(t, true, "--tls-cert-file", filepath.Join(dir, "server.pem"),
		"--tls-key-file", filepath.Join(dir, "server.key"), "--tls-ca-cert-file", filepath.Join(dir, "ca.pem"),
		"--tls-auth-clients", "no", "--requirepass", "memorystore-auth")
	other := testenv.NewCA(t, "another CA")

	for name, c := range map[string]struct {
		cfg  config.Redis
		want string // "" for ready
	}{
		"no AUTH set":          {config.Redis{URL: testenv.RedisURL()}, ""},
		"AUTH required":        {config.Redis{URL: "redis://127.0.0.1:" + strconv.Itoa(authPort)}, ""},
		"TLS, the server's CA": {config.Redis{URL: "rediss://127.0.0.1:" + strconv.Itoa(tlsPort), CAPEM: ca.PEM}, ""},
		"TLS, another CA":      {config.Redis{URL: "rediss://127.0.0.1:" + strconv.Itoa(tlsPort), CAPEM: other.PEM}, "certificate"},
		"nothing there":        {config.Redis{URL: "redis://" + testenv.DeadAddress(t)}, "refused"},
		"frozen":               {config.Redis{URL: "redis://" + silent(t)}, "timeout"},
		"not Redis":            {config.Redis{URL: "redis://" + notIt(t)}, "answered"},
	} {
		start := time.Now()
		p, err := probe.Redis(c.cfg)
		err = ping(t, p, err)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v, want one mentioning %q", name, err, c.want)
		case time.Since(start) > 3*time.Second:
			t.Errorf("%s: took %v", name, time.Since(start))
		}
	}
	if _, err := probe.Redis(config.Redis{URL: "redis://127.0.0.1:1", CAPEM: ca.PEM}); err == nil || !strings.Contains(err.Error(), "not rediss://") {
		t.Errorf("CA with a plain-text URL: err = %v", err)
	}
}

// TestPostgresProbeNeedsNoPassword: PostgreSQL answers the probe's startup
// message with an authentication request (or, under trust, a welcome),
// which proves it accepts connections; the probe hangs up before any
// password. Over TLS it verifies the server as the functions do
// (verify-full: the CA and the name).
func TestPostgresProbeNeedsNoPassword(t *testing.T) {
	t.Parallel()
	pg := testenv.EmptyPrivatePostgres(t)
	ca := testenv.NewCA(t, "test Cloud SQL server CA")
	const name = "0123abcd.us-central1.sql.goog"
	cert, key := ca.Issue(t, []string{name})
	pg.EnableTLS(t, cert, key)
	// Password authentication over TCP, as Cloud SQL has it: the probe
	// must be asked for a password, and leave without giving one.
	scram := testenv.EmptyPrivatePostgres(t)
	scram.RequirePassword(t)
	other := testenv.NewCA(t, "another CA")
	tlsURL := "postgres://postgres@127.0.0.1:" + strconv.Itoa(pg.Port()) + "/postgres?sslmode=verify-full"

	for what, c := range map[string]struct {
		cfg  config.Database
		want string
	}{
		"plain, trust":            {config.Database{URL: testenv.PostgresAdminURL()}, ""},
		"password required":       {config.Database{URL: "postgres://license_server@127.0.0.1:" + strconv.Itoa(scram.Port()) + "/licenses?sslmode=disable"}, ""},
		"verify-full":             {config.Database{URL: tlsURL, CAPEM: ca.PEM, ServerName: name}, ""},
		"verify-full, wrong CA":   {config.Database{URL: tlsURL, CAPEM: other.PEM, ServerName: name}, "certificate signed by unknown authority"},
		"verify-full, wrong name": {config.Database{URL: tlsURL, CAPEM: ca.PEM, ServerName: "other.sql.goog"}, "other.sql.goog"},
		"nothing there":           {config.Database{URL: "postgres://u@" + testenv.DeadAddress(t) + "/x?sslmode=disable"}, "refused"},
		"frozen":                  {config.Database{URL: "postgres://u@" + silent(t) + "/x?sslmode=disable"}, "timeout"},
		"not PostgreSQL":          {config.Database{URL: "postgres://u@" + strings.TrimPrefix(testenv.RedisURL(), "redis://")[:len("127.0.0.1:6379")] + "/x?sslmode=disable"}, "postgres"},
	} {
		start := time.Now()
		p, err := probe.Postgres(c.cfg)
		err = ping(t, p, err)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", what, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: err = %v, want one mentioning %q", what, err, c.want)
		case time.Since(start) > 3*time.Second:
			t.Errorf("%s: took %v", what, time.Since(start))
		}
	}
	// The server logged no failed login for the probe that left at the
	// password prompt.
	if log := scram.Log(t); strings.Contains(log, `user "license_server"`) || strings.Contains(log, "SASL") {
		t.Errorf("the probe left a failed login in the server's log:\n%s", log)
	}
}
