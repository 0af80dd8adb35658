package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/apikeys"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/clientaddr"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/ratelimit"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// statements counts the statements a database handle sends PostgreSQL:
// every one, those that read licenses, and those that read API keys.
type statements struct{ all, licenses, keys atomic.Int64 }

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.all.Add(1)
	if strings.Contains(d.SQL, "FROM licenses") {
		s.licenses.Add(1)
	}
	if strings.Contains(d.SQL, "FROM api_keys") {
		s.keys.Add(1)
	}
	return ctx
}

func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// floodBurst is the per-address limit of the flood test: 5 reads a client
// address may cause before it is refused (one more a minute).
const floodBurst = 5

// floodAPI is every function, with the per-address limit, behind the
// client address resolution of production, on a database whose
// statements are counted.
func floodAPI(t *testing.T) (*api, *statements) {
	t.Helper()
	count := &statements{}
	db, err := database.Open(context.Background(), testenv.PostgresURL(t), database.WithTracer(count))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	rdb, prefix := testenv.Redis(t)
	b, err := backend.New(rdb, db, prefix, slog.New(slog.DiscardHandler), nil,
		backend.WithAddressLimit(ratelimit.PerMinute(1, floodBurst)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	testenv.NoteSecret(t, adminToken)
	authn, err := authnOn(b, config.RateLimit{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// Every role on the one backend whose statements the tracer counts:
	// this test is about how many statements a flood makes, not whose
	// rights they run with (every other e2e test builds each function on
	// its own role's connection).
	same := map[database.Role]*backend.Backend{}
	for _, role := range database.Roles() {
		same[role] = b
	}
	roles, err := compose.RolesOf(same, func(*backend.Backend) (*auth.Authenticator, error) { return authn, nil })
	if err != nil {
		t.Fatal(err)
	}
	fns, err := allHTTP(t, ctx, compose.Deps{Backend: b, Authn: authn, Roles: roles, Root: testRoot(t), Issuer: testIssuer,
		Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		ClientAddress: clientaddr.Resolver{Index: clientaddr.DefaultIndex}}, fns...))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, b: b, prefix: prefix, log: logs}, count
}

// through sends an acquire as the load balancer, gateway and queue-proxy
// deliver it from client: spoof is what the client itself wrote into
// X-Forwarded-For, on the left.
func through(t *testing.T, a *api, client, spoof, bearer, licenseKey string) reply {
	t.Helper()
	body, err := json.Marshal(map[string]string{"license_key": licenseKey, "fingerprint": "fp-flood"})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", a.srv.URL+"/v1/acquire", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	xff := client + ", 198.51.100.1, 35.191.4.9, 10.4.0.12"
	if spoof != "" {
		xff = spoof + ", " + xff
	}
	req.Header.Set("X-Forwarded-For", xff)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// randomKey is a well-formed license key of a random license id.
func randomKey(t *testing.T) string {
	t.Helper()
	id, err := tokens.NewUUID()
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := tokens.NewLicenseKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// refusedForRate checks an answer is the per-address limit's: 429
// rate_limited in the JSON envelope, with Retry-After.
func refusedForRate(t *testing.T, r reply, what string) {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.code() != "rate_limited" || r.header.Get("Retry-After") == "" ||
		r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: got %d %q (Retry-After %q), want 429 rate_limited with Retry-After: %s",
			what, r.status, r.code(), r.header.Get("Retry-After"), r.raw)
	}
}

// hostileFloods: floods of made-up credentials, which no one has paid
// for, cost PostgreSQL nothing beyond one read per license id or API key,
// and a client address past its limit is refused before any database
// work, whatever it writes into X-Forwarded-For.
func hostileFloods(t *testing.T) {
	t.Parallel()
	a, count := floodAPI(t)
	tenant := a.tenant("acme")
	_, realKey := a.license(tenant, map[string]any{"seats": 2})

	t.Run("one random license id, again and again", func(t *testing.T) {
		key := randomKey(t)
		before := count.licenses.Load()
		for i := range 30 {
			if r := through(t, a, "203.0.113.1", "", "", key); r.status != 404 || r.code() != "license_not_found" {
				t.Fatalf("acquire %d: %d %s", i, r.status, r.raw)
			}
		}
		if n := count.licenses.Load() - before; n != 1 {
			t.Fatalf("30 acquires of one unknown license read licenses %d times, want 1", n)
		}
	})
	t.Run("one junk API key on acquire, again and again", func(t *testing.T) {
		junk := apikeys.Prefix + "junk0123456789abcdefghijklmnopqrstuvwxyz"
		before := count.keys.Load()
		for i := range 30 {
			if r := through(t, a, "203.0.113.2", "", junk, realKey); r.status != 401 || r.code() != "unauthorized" {
				t.Fatalf("acquire %d: %d %s", i, r.status, r.raw)
			}
		}
		if n := count.keys.Load() - before; n != 1 {
			t.Fatalf("30 acquires with one junk API key read api_keys %d times, want 1", n)
		}
	})
	// Every request below names a license id, or an API key, never seen:
	// each would read PostgreSQL, so the address's burst of reads goes
	// through and the rest are refused before any statement. The client
	// writes new left-most X-Forwarded-For entries each time, which must
	// not give it a new bucket.
	floodFrom := func(t *testing.T, client, other string, send func(client, spoof string) reply, want int, code string) {
		t.Helper()
		beforeLic, beforeKeys := count.licenses.Load(), count.keys.Load()
		for i := range floodBurst {
			if r := send(client, "192.0.2."+strconv.Itoa(i)); r.status != want || r.code() != code {
				t.Fatalf("request %d within the burst: %d %s", i, r.status, r.raw)
			}
		}
		if reads := count.licenses.Load() - beforeLic + count.keys.Load() - beforeKeys; reads != floodBurst {
			t.Fatalf("%d requests within the burst made %d reads, want %d", floodBurst, reads, floodBurst)
		}
		atLimit := count.all.Load()
		for i := floodBurst; i < 4*floodBurst; i++ {
			spoof := "192.0.2." + strconv.Itoa(i) + ", " + other + ", 10.9.9." + strconv.Itoa(i)
			refusedForRate(t, send(client, spoof), "past the limit, with "+spoof+" in front")
		}
		if n := count.all.Load() - atLimit; n != 0 {
			t.Fatalf("requests past the limit sent PostgreSQL %d statements, want 0", n)
		}
		// The address the flood wrote in front is its own client, not
		// held up by this one.
		if r := send(other, ""); r.status != want || r.code() != code {
			t.Fatalf("another client: %d %s", r.status, r.raw)
		}
	}
	t.Run("random license ids from one address", func(t *testing.T) {
		floodFrom(t, "203.0.113.3", "203.0.113.33", func(client, spoof string) reply {
			return through(t, a, client, spoof, "", randomKey(t))
		}, 404, "license_not_found")
	})
	t.Run("junk API keys from one address", func(t *testing.T) {
		floodFrom(t, "203.0.113.4", "203.0.113.44", func(client, spoof string) reply {
			return through(t, a, client, spoof, apikeys.Prefix+"junk"+randomKey(t)[3:40], realKey)
		}, 401, "unauthorized")
	})
}
