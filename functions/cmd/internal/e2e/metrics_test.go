package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/coditect-ai/license-server/functions/cleanup"
	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// serveWithMetrics is the local server with metrics: every function and
// the cleanup endpoint, a Redis client and a database pool of their own
// (so the hook and the tracer see only this test), and the root key in a
// fake Cloud KMS, so KMS calls are counted too.
func serveWithMetrics(t *testing.T) (*api, *metrics.Metrics) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m, err := metrics.New(ctx, metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	logger := logging.New(logs, 0)
	rdb, prefix := testenv.Redis(t)
	db, err := database.Open(ctx, testenv.PostgresURL(t), database.WithTracer(m.PostgresTracer()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	b, err := backend.New(rdb, db, prefix, logger, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	fake := kmsfake.Start(t)
	root, err := compose.Root(ctx, config.Signing{KMSKeyVersion: fake.VersionName()}, logger, m,
		option.WithEndpoint(fake.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	authn, err := authnOn(b, config.RateLimit{})
	if err != nil {
		t.Fatal(err)
	}
	fns, err := allHTTP(t, ctx, compose.Deps{Backend: b, Authn: authn, Root: root, Issuer: testIssuer, Logger: logger},
		func(rb *backend.Backend) (*auth.Authenticator, error) {
			return authnOn(rb, config.RateLimit{})
		})
	if err != nil {
		t.Fatal(err)
	}
	clean, err := cleanup.New(b.Cleaner, logger)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/internal/cleanup", m.HTTP(cleanup.Name, "/internal/cleanup", route.CloudEvents(clean.Handle, cleanup.TypeManual)))
	mux.Handle("/", route.Mux(route.Options{Logger: logger, Metrics: m}, fns...))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, b: b, prefix: prefix, log: logs}, m
}

// scraped is one scrape of /metrics: sample values by family.
type scraped map[string][]scrapedSample

type scrapedSample struct {
	labels map[string]string
	value  float64 // a histogram's sample count
}

func (a *api) scrape() scraped {
	a.t.Helper()
	resp, err := http.Get(a.srv.URL + "/metrics")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		a.t.Fatalf("parsing /metrics: %v", err)
	}
	out := scraped{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			s := scrapedSample{labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.value = m.GetGauge().GetValue()
			case m.Histogram != nil:
				s.value = float64(m.GetHistogram().GetSampleCount())
			}
			out[name] = append(out[name], s)
		}
	}
	return out
}

// sum adds the family's samples whose labels include want ("!x" values
// exclude x).
func (s scraped) sum(family string, want map[string]string) float64 {
	total := 0.0
next:
	for _, smp := range s[family] {
		for k, v := range want {
			if not, ok := strings.CutPrefix(v, "!"); ok && smp.labels[k] == not || !ok && smp.labels[k] != v {
				continue next
			}
		}
		total += smp.value
	}
	return total
}

// hotPath is what acquire, heartbeat and release may cost the backends
// other than Redis: PostgreSQL statements run on their requests and KMS
// calls of any origin. In steady state (the license's metadata in Redis)
// both stay where they are.
func (s scraped) hotPath() (postgres, kms float64) {
	for _, fn := range []string{"Acquire", "Heartbeat", "Release"} {
		postgres += s.sum("license_postgres_queries_total", map[string]string{"function": fn})
	}
	return postgres, s.sum("license_kms_calls_total", nil)
}

// TestMetricsOfTheLocalServer drives every kind of call through the whole
// server and reads the result from its /metrics, as Prometheus would.
func TestMetricsOfTheLocalServer(t *testing.T) {
	t.Parallel()
	a, _ := serveWithMetrics(t)
	tenant := a.tenant("metrics")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1})
	a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/licenses/"+licenseID+"/certificate", nil), 200, "")
	a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID, nil), 200, "")

	// The license was written through to Redis when it was created, so
	// this is steady state from the first acquire on.
	before := a.scrape()
	pgBefore, kmsBefore := before.hotPath()
	session := a.expect(a.acquire(key, "ws-1"), 200, "").str("session_id")
	a.expect(a.heartbeat(session), 200, "")
	a.expect(a.acquire(key, "ws-1"), 200, "") // resumed
	a.expect(a.acquire(key, "ws-2"), 409, "no_seats_available")
	full := a.scrape()
	a.expect(a.release(session), 200, "")
	a.expect(a.call("POST", "/v1/acquire", "", `{"license_key":`), 400, "invalid_request")
	after := a.scrape()
	if pg, kms := after.hotPath(); pg != pgBefore || kms != kmsBefore || pg != 0 {
		t.Errorf("steady-state acquire/heartbeat/release: PostgreSQL statements %v → %v, KMS calls %v → %v; want no change and no statement at all",
			pgBefore, pg, kmsBefore, kms)
	}

	resp, err := http.Post(a.srv.URL+"/internal/cleanup", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("cleanup = %d", resp.StatusCode)
	}
	got := a.scrape()

	for _, c := range []struct {
		s      scraped
		family string
		labels map[string]string
		min    float64 // the value when exact, else the least
		exact  bool
	}{
		{got, "license_http_server_requests_total", map[string]string{"function": "Acquire", "route": "/v1/acquire", "method": "POST", "code": "200"}, 2, true},
		{got, "license_http_server_requests_total", map[string]string{"function": "Acquire", "code": "409"}, 1, true},
		{got, "license_http_server_requests_total", map[string]string{"function": "Heartbeat", "route": "/v1/heartbeat", "code": "200"}, 1, true},
		{got, "license_http_server_requests_total", map[string]string{"function": "Release", "code": "200"}, 1, true},
		{got, "license_http_server_requests_total", map[string]string{"function": "Licenses", "route": "/v1/tenants/{tenant_id}/licenses/{license_id}", "method": "GET", "code": "200"}, 1, true},
		{got, "license_http_server_requests_total", map[string]string{"function": "Cleanup", "route": "/internal/cleanup", "code": "204"}, 1, true},
		{got, "license_http_server_request_duration_seconds", map[string]string{"function": "Tenants"}, 1, true},
		{got, "license_acquire_outcomes_total", map[string]string{"outcome": "granted"}, 1, true},
		{got, "license_acquire_outcomes_total", map[string]string{"outcome": "resumed"}, 1, true},
		{got, "license_acquire_outcomes_total", map[string]string{"outcome": "denied", "reason": "no_seats_available"}, 1, true},
		{got, "license_acquire_outcomes_total", map[string]string{"outcome": "invalid"}, 1, true},
		{full, "license_seats_live", map[string]string{"license_id": licenseID}, 1, true},
		{full, "license_seats_utilization", map[string]string{"license_id": licenseID}, 1, true},
		{got, "license_seats_live", map[string]string{"license_id": licenseID}, 0, true},
		{got, "license_redis_calls_total", map[string]string{"command": "evalsha", "script": "acquire", "status": "ok"}, 3, true},
		{got, "license_redis_calls_total", map[string]string{"command": "evalsha", "script": "heartbeat", "status": "ok"}, 1, true},
		{got, "license_redis_calls_total", map[string]string{"script": "sweep"}, 1, false},
		{got, "license_redis_call_duration_seconds", map[string]string{"command": "evalsha", "script": "release"}, 1, true},
		{got, "license_postgres_queries_total", map[string]string{"function": "Tenants", "operation": "insert", "status": "ok"}, 1, false},
		{got, "license_postgres_queries_total", map[string]string{"function": "Licenses", "operation": "select"}, 1, false},
		{got, "license_postgres_queries_total", map[string]string{"function": "Cleanup", "status": "ok"}, 1, false}, // the ledger drain
		{got, "license_postgres_query_duration_seconds", map[string]string{"operation": "commit"}, 1, false},
		{got, "license_kms_calls_total", map[string]string{"function": "background", "method": "GetPublicKey", "status": "ok"}, 1, true},
		{got, "license_kms_calls_total", map[string]string{"function": "background", "method": "AsymmetricSign", "status": "ok"}, 1, true}, // the delegation
		{got, "license_kms_calls_total", map[string]string{"function": "Licenses", "method": "AsymmetricSign", "status": "ok"}, 1, true},   // the certificate
		{got, "license_kms_call_duration_seconds", map[string]string{"method": "AsymmetricSign"}, 2, true},
		{got, "license_cleanup_runs_total", map[string]string{"result": "ok"}, 1, true},
		{got, "license_cleanup_licenses_total", nil, 1, false},
		{got, "license_cleanup_drained_entries_total", nil, 3, true}, // acquired, denied, released
		{got, "license_cleanup_expired_sessions_total", nil, 0, true},
		{got, "license_cleanup_run_duration_seconds", nil, 1, true},
	} {
		v := c.s.sum(c.family, c.labels)
		if c.exact && v != c.min || !c.exact && v < c.min {
			t.Errorf("%s%v = %v, want %v (exact: %v)", c.family, c.labels, v, c.min, c.exact)
		}
	}
	if len(got["license_ledger_drain_lag_seconds"]) != 1 || len(got["license_cleanup_expired_sessions_total"]) != 1 {
		t.Errorf("drain lag or expired counter missing after a run: %v / %v",
			got["license_ledger_drain_lag_seconds"], got["license_cleanup_expired_sessions_total"])
	}
	for family, samples := range got {
		for _, s := range samples {
			for _, v := range s.labels {
				if strings.Contains(v, key) || strings.Contains(v, session) || strings.Contains(v, tenant) {
					t.Errorf("%s carries a key, session id or raw path: %v", family, s.labels)
				}
			}
		}
	}
}
