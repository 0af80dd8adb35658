package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"

	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// scrape reads m's /metrics into families by name.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*familyView {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := map[string]*familyView{}
	for name, f := range fams {
		v := &familyView{}
		for _, mt := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			var value float64
			switch {
			case mt.Counter != nil:
				value = mt.GetCounter().GetValue()
			case mt.Gauge != nil:
				value = mt.GetGauge().GetValue()
			case mt.Histogram != nil:
				value = float64(mt.GetHistogram().GetSampleCount())
			}
			v.samples = append(v.samples, sample{labels, value})
		}
		out[name] = v
	}
	return out
}

type sample struct {
	labels map[string]string
	value  float64
}

type familyView struct{ samples []sample }

// sum adds the samples whose labels include want (a histogram's count).
func (f *familyView) sum(want map[string]string) float64 {
	if f == nil {
		return 0
	}
	total := 0.0
next:
	for _, s := range f.samples {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
	}
	return total
}

// exercise records one of everything, so every family is exported.
func exercise(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	ctx := context.Background()
	h := m.HTTP("Licenses", "/v1/tenants/{tenant_id}/licenses/{license_id}", http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			m.KMSInterceptor()(r.Context(), "/google.cloud.kms.v1.KeyManagementService/AsymmetricSign", nil, nil, nil,
				func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil })
			w.WriteHeader(http.StatusNotFound)
		}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/tenants/t-secretish/licenses/l-1", nil))
	m.AcquireOutcome(ctx, metrics.Acquire{Outcome: metrics.OutcomeGranted, LicenseID: "lic-1", Seats: 4})
	m.AcquireOutcome(ctx, metrics.Acquire{Outcome: metrics.OutcomeDenied, Reason: "no_seats_available", LicenseID: "lic-1", Seats: 4})
	m.CountSeatsWith(func(context.Context, []string) (map[string]int, error) { return map[string]int{"lic-1": 3}, nil })
	rdb, prefix := testenv.Redis(t)
	// A script of this test's own, so Redis's script cache is cold: the
	// EVALSHA fails with NOSCRIPT, then go-redis falls back to EVAL.
	src := "return '" + prefix + "'"
	rdb.AddHook(m.RedisHook(map[string]string{"acquire": src}))
	if err := redis.NewScript(src).Run(ctx, rdb, nil).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error { p.Get(ctx, prefix+"missing"); return nil }); !errors.Is(err, redis.Nil) {
		t.Fatal(err)
	}
	tracer := m.PostgresTracer()
	qctx := tracer.TraceQueryStart(ctx, nil, pgx.TraceQueryStartData{SQL: "  -- why\n SELECT 1"})
	tracer.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
	m.CleanupRun(metrics.Cleanup{Licenses: 2, Expired: 1, Drained: 3, Lag: 1500 * time.Millisecond, Took: time.Second})
	m.CleanupRun(metrics.Cleanup{Skipped: true, Took: time.Millisecond})
	m.CountDroppedSightingsWith(func() int64 { return 7 })
	m.EventHandedOn("license.created", 2*time.Second)
	m.EventHandedOn("license.created", time.Second)
	m.WebhookAttempt("delivered", 40*time.Millisecond)
	m.WebhookAttempt("retry", 10*time.Second)
	m.MailAttempt("sent")
	m.OldestPending(90 * time.Second)
}

func TestEveryInstrumentIsExported(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(context.Background(), metrics.Options{Licenses: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	exercise(t, m)
	got := scrape(t, m)
	for _, c := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"license_http_server_requests_total", map[string]string{"function": "Licenses",
			"route": "/v1/tenants/{tenant_id}/licenses/{license_id}", "method": "GET", "code": "404"}, 1},
		{"license_http_server_request_duration_seconds", map[string]string{"function": "Licenses"}, 1},
		{"license_acquire_outcomes_total", map[string]string{"outcome": "granted"}, 1},
		{"license_acquire_outcomes_total", map[string]string{"outcome": "denied", "reason": "no_seats_available"}, 1},
		{"license_seats_live", map[string]string{"license_id": "lic-1"}, 3},
		{"license_seats_utilization", map[string]string{"license_id": "lic-1"}, 0.75},
		{"license_redis_calls_total", map[string]string{"command": "evalsha", "script": "acquire", "status": "error"}, 1},
		{"license_redis_calls_total", map[string]string{"command": "eval", "script": "acquire", "status": "ok"}, 1},
		{"license_redis_calls_total", map[string]string{"command": "get", "script": "", "status": "ok"}, 1},
		{"license_redis_call_duration_seconds", map[string]string{"command": "pipeline", "status": "ok"}, 1},
		{"license_postgres_queries_total", map[string]string{"function": "background", "operation": "select", "status": "ok"}, 1},
		{"license_postgres_query_duration_seconds", map[string]string{"operation": "select"}, 1},
		{"license_kms_calls_total", map[string]string{"function": "Licenses", "method": "AsymmetricSign", "status": "ok"}, 1},
		{"license_kms_call_duration_seconds", map[string]string{"method": "AsymmetricSign"}, 1},
		{"license_cleanup_runs_total", map[string]string{"result": "ok"}, 1},
		{"license_cleanup_runs_total", map[string]string{"result": "skipped"}, 1},
		{"license_cleanup_licenses_total", nil, 2},
		{"license_cleanup_expired_sessions_total", nil, 1},
		{"license_cleanup_drained_entries_total", nil, 3},
		{"license_cleanup_run_duration_seconds", nil, 1},
		{"license_ledger_drain_lag_seconds", nil, 1.5},
		{"license_workstation_sightings_dropped_total", nil, 7},
		{"license_notify_events_total", map[string]string{"type": "license.created"}, 2},
		{"license_notify_event_delay_seconds", nil, 2},
		{"license_notify_webhook_attempts_total", map[string]string{"outcome": "delivered"}, 1},
		{"license_notify_webhook_attempts_total", map[string]string{"outcome": "retry"}, 1},
		{"license_notify_webhook_attempt_duration_seconds", nil, 2},
		{"license_notify_mails_total", map[string]string{"outcome": "sent"}, 1},
		{"license_notify_oldest_pending_event_age_seconds", nil, 90},
	} {
		if v := got[c.family].sum(c.labels); v != c.want {
			t.Errorf("%s%v = %v, want %v (%+v)", c.family, c.labels, v, c.want, got[c.family].samples)
		}
	}
	// The route pattern is the label, never the path with its ids.
	for name, f := range got {
		for _, s := range f.samples {
			for _, v := range s.labels {
				if strings.Contains(v, "t-secretish") {
					t.Errorf("%s carries the raw path: %v", name, s.labels)
				}
			}
		}
	}
}

func TestNilMetricsRecordsNothing(t *testing.T) {
	t.Parallel()
	var m *metrics.Metrics
	ctx := context.Background()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	rec := httptest.NewRecorder()
	m.HTTP("F", "/", next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("nil Metrics changed the answer: %d", rec.Code)
	}
	m.AcquireOutcome(ctx, metrics.Acquire{Outcome: metrics.OutcomeGranted})
	m.CountSeatsWith(nil)
	m.CountDroppedSightingsWith(func() int64 { return 1 })
	m.CleanupRun(metrics.Cleanup{Failed: true})
	m.EventHandedOn("license.created", time.Second)
	m.WebhookAttempt("delivered", time.Second)
	m.MailAttempt("sent")
	m.OldestPending(time.Second)
	if m.RedisHook(nil) != nil || m.PostgresTracer() != nil || m.MeterProvider() != nil {
		t.Error("nil Metrics hands out recorders")
	}
	called := false
	err := m.KMSInterceptor()(ctx, "/x/Y", nil, nil, nil,
		func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
			called = true
			return nil
		})
	if err != nil || !called {
		t.Error("nil Metrics' interceptor does not call on")
	}
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("nil Metrics' handler = %d, want 404", rec.Code)
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

// TestLabelsStayBounded: whatever clients send or licenses exist, the
// label values come from fixed sets and the seat gauges from at most N
// licenses, the most recently acquired.
func TestLabelsStayBounded(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(context.Background(), metrics.Options{Licenses: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c", "d", "b", "e"} {
		m.AcquireOutcome(ctx, metrics.Acquire{Outcome: metrics.OutcomeGranted, LicenseID: id, Seats: 10})
	}
	var asked []string
	m.CountSeatsWith(func(_ context.Context, ids []string) (map[string]int, error) {
		asked = ids
		return map[string]int{}, nil
	})
	m.AcquireOutcome(ctx, metrics.Acquire{Outcome: metrics.OutcomeDenied, Reason: "brand_new_code"})
	m.AcquireOutcome(ctx, metrics.Acquire{Outcome: "novel"})
	h := m.HTTP("F", "/x", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/x", nil))
	got := scrape(t, m)
	live := map[string]bool{}
	for _, s := range got["license_seats_live"].samples {
		live[s.labels["license_id"]] = true
	}
	if len(asked) != 3 || len(live) != 3 || !live["b"] || !live["d"] || !live["e"] {
		t.Errorf("seat gauges report %v (asked %v), want the 3 most recent: b, d, e", live, asked)
	}
	if got["license_acquire_outcomes_total"].sum(map[string]string{"outcome": "denied", "reason": "other"}) != 1 ||
		got["license_acquire_outcomes_total"].sum(map[string]string{"outcome": "error"}) != 1 {
		t.Errorf("unknown reason/outcome not folded: %+v", got["license_acquire_outcomes_total"].samples)
	}
	if got["license_http_server_requests_total"].sum(map[string]string{"method": "other"}) != 1 {
		t.Errorf("unknown method not folded: %+v", got["license_http_server_requests_total"].samples)
	}

	// A failing count drops the gauges from the scrape instead of failing it.
	m.CountSeatsWith(func(context.Context, []string) (map[string]int, error) { return nil, errors.New("redis down") })
	got = scrape(t, m)
	if _, ok := got["license_seats_live"]; ok {
		t.Error("seat gauges reported while counting fails")
	}
	if _, ok := got["license_acquire_outcomes_total"]; !ok {
		t.Error("a failing seat count broke the rest of the scrape")
	}
}

func TestOperation(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(context.Background(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tracer := m.PostgresTracer()
	for _, sql := range []string{"select 1", "\n\tINSERT INTO x", "/* c */ update x", "-- a\n-- b\nWITH x AS (", "(SELECT 1)",
		"begin", "commit", "EXPLAIN ANALYZE x", "-- only a comment", "", "SELECT'secret'"} {
		ctx := tracer.TraceQueryStart(context.Background(), nil, pgx.TraceQueryStartData{SQL: sql})
		tracer.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{})
	}
	got := scrape(t, m)["license_postgres_queries_total"]
	want := map[string]float64{"select": 3, "insert": 1, "update": 1, "with": 1, "begin": 1, "commit": 1, "other": 3}
	for op, n := range want {
		if v := got.sum(map[string]string{"operation": op}); v != n {
			t.Errorf("operation %s counted %v, want %v", op, v, n)
		}
	}
	if total := got.sum(nil); total != 11 {
		t.Errorf("%v statements counted, want 11 (%+v)", total, got.samples)
	}
}
