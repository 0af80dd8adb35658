package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
)

// Family is one metric family as GET /metrics serves it.
type Family struct {
	// Type is the Prometheus type in lower case: counter, gauge or
	// histogram.
	Type string
	// Labels are the label names its samples carry, sorted; a histogram's
	// le is not among them (PromQL sees it on the _bucket series only).
	Labels []string
	// Buckets are a histogram's finite upper bounds in ascending order, so a
	// latency objective can be checked to fall on a boundary.
	Buckets []float64
}

// Catalog is every family the service exports, by name, with its labels:
// what dashboards and alert rules written outside Go (the Grafana JSON,
// Terraform's PromQL and SLO filters) may name. It builds a private
// Metrics, records one measurement on every instrument through the same
// methods production code calls (no Redis, PostgreSQL or KMS is contacted:
// the hooks are called with stand-in commands), scrapes its Handler and
// parses the answer, so a renamed instrument or label shows up here as it
// would in production.
func Catalog(ctx context.Context) (map[string]Family, error) {
	m, err := New(ctx, Options{Service: "catalog"})
	if err != nil {
		return nil, err
	}
	defer func() { _ = m.Shutdown(context.WithoutCancel(ctx)) }()
	if err := m.recordEveryInstrument(ctx); err != nil {
		return nil, fmt.Errorf("recording the catalog's measurements: %w", err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("building the catalog's scrape: %w", err)
	}
	w := &bufferWriter{header: http.Header{}}
	m.Handler().ServeHTTP(w, req)
	if w.code != 0 && w.code != http.StatusOK {
		return nil, fmt.Errorf("scraping the catalog: status %d: %s", w.code, w.body.String())
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&w.body)
	if err != nil {
		return nil, fmt.Errorf("parsing the catalog's scrape: %w", err)
	}
	out := make(map[string]Family, len(fams))
	for name, f := range fams {
		fam := Family{Type: strings.ToLower(f.GetType().String())}
		for _, mt := range f.GetMetric() {
			for _, l := range mt.GetLabel() {
				if !slices.Contains(fam.Labels, l.GetName()) {
					fam.Labels = append(fam.Labels, l.GetName())
				}
			}
			for _, b := range mt.GetHistogram().GetBucket() {
				if ub := b.GetUpperBound(); !math.IsInf(ub, 1) && !slices.Contains(fam.Buckets, ub) {
					fam.Buckets = append(fam.Buckets, ub)
				}
			}
		}
		slices.Sort(fam.Labels)
		slices.Sort(fam.Buckets)
		out[name] = fam
	}
	return out, nil
}

// recordEveryInstrument records one measurement, with every label its
// production callers set, on each instrument of m. A test
// (TestCatalogCoversEveryInstrument) fails when an instrument is added
// without a line here.
func (m *Metrics) recordEveryInstrument(ctx context.Context) error {
	var errs []error
	// One request through the HTTP middleware, making the PostgreSQL
	// statement and KMS call on its behalf, so they carry the function label.
	h := m.HTTP("Catalog", "/catalog", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rctx := r.Context()
		tracer := m.PostgresTracer()
		qctx := tracer.TraceQueryStart(rctx, nil, pgx.TraceQueryStartData{SQL: "SELECT 1"})
		tracer.TraceQueryEnd(qctx, nil, pgx.TraceQueryEndData{})
		errs = append(errs, m.KMSInterceptor()(rctx, "/google.cloud.kms.v1.KeyManagementService/AsymmetricSign", nil, nil, nil,
			func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }))
		w.WriteHeader(http.StatusNoContent)
	}))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/catalog", nil)
	if err != nil {
		return fmt.Errorf("building the catalog's request: %w", err)
	}
	h.ServeHTTP(&bufferWriter{header: http.Header{}}, req)

	m.AcquireOutcome(ctx, Acquire{Outcome: OutcomeGranted, LicenseID: "catalog", Seats: 2})
	m.AcquireOutcome(ctx, Acquire{Outcome: OutcomeDenied, Reason: "no_seats_available"})
	m.CountSeatsWith(func(context.Context, []string) (map[string]int, error) { return map[string]int{"catalog": 1}, nil })

	// An EVALSHA of a named script, as the seat engine runs them; the
	// command never leaves the process.
	const script = "return 1"
	hook := m.RedisHook(map[string]string{"catalog": script})
	errs = append(errs, hook.ProcessHook(func(context.Context, redis.Cmder) error { return nil })(
		ctx, redis.NewCmd(ctx, "evalsha", digest(script), 0)))

	m.CleanupRun(Cleanup{Licenses: 1, Expired: 1, Drained: 1, Lag: time.Second, Took: time.Second})
	m.CountDroppedSightingsWith(func() int64 { return 0 })
	m.EventHandedOn("catalog", time.Second)
	m.WebhookAttempt("delivered", time.Millisecond)
	m.MailAttempt("sent")
	m.OldestPending(time.Second)
	return errors.Join(errs...)
}

// bufferWriter is the http.ResponseWriter of the catalog's in-process
// requests (net/http/httptest is for tests).
type bufferWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b) // a bytes.Buffer only grows
}
