// Package metrics is the service's OpenTelemetry instrumentation: one SDK
// MeterProvider per process, exported for Prometheus on an http.Handler
// (/metrics) and, when configured, pushed over OTLP gRPC (for Google Cloud
// Managed Service for Prometheus through a collector).
//
// Everything is reached through a *Metrics built once in main and passed to
// whatever records; there is no global provider. A nil *Metrics is valid and
// records nothing, so tests that do not care pass nil.
//
// Cardinality is bounded by construction: HTTP requests are labelled with
// the route pattern (never the raw path), seat gauges cover at most
// Options.Licenses licenses, and no label ever carries a session id, a
// license key or any other secret. Attribute sets are built once per label
// combination and reused, so recording on the hot path allocates little.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// scope names the instrumentation in OTLP exports.
const scope = "github.com/coditect-ai/license-server/shared/metrics"

// DefaultLicenses bounds the licenses the seat gauges report.
const DefaultLicenses = 100

// Options configure New.
type Options struct {
	// Service is the resource's service.name ("license-server" when empty).
	Service string
	// Function, when set, is the resource's faas.name: the one function a
	// production instance serves (FUNCTION_TARGET), so pushed metrics of
	// different functions stay apart.
	Function string
	// OTLPEndpoint, when set (OTEL_EXPORTER_OTLP_ENDPOINT, e.g.
	// http://collector:4317), also pushes every metric there over OTLP
	// gRPC. The exporter reads the other OTEL_EXPORTER_OTLP_* variables
	// (headers, timeout, certificates) itself, and the export interval comes
	// from OTEL_METRIC_EXPORT_INTERVAL (default 60s).
	OTLPEndpoint string
	// Licenses bounds the seat gauges: the most recently active licenses this
	// instance saw, DefaultLicenses when 0.
	Licenses int
}

// CountFunc reads the live session count of each license
// (seats.Engine.Count).
type CountFunc func(ctx context.Context, licenseIDs []string) (map[string]int, error)

// Metrics holds the provider and every instrument.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	handler  http.Handler

	httpRequests metric.Int64Counter
	httpDuration metric.Float64Histogram

	acquireOutcomes metric.Int64Counter
	acquireAttrs    map[[2]string]metric.MeasurementOption
	licenses        *recentLicenses
	count           atomic.Pointer[CountFunc]

	redisCalls    metric.Int64Counter
	redisDuration metric.Float64Histogram
	redisAttrs    attrCache[redisKey]

	pgQueries  metric.Int64Counter
	pgDuration metric.Float64Histogram
	pgAttrs    attrCache[pgKey]

	kmsCalls    metric.Int64Counter
	kmsDuration metric.Float64Histogram
	kmsAttrs    attrCache[kmsKey]

	cleanupRuns     metric.Int64Counter
	cleanupLicenses metric.Int64Counter
	cleanupExpired  metric.Int64Counter
	cleanupDrained  metric.Int64Counter
	cleanupDuration metric.Float64Histogram
	cleanupAttrs    map[string]metric.MeasurementOption
	// drainLag is the last run's lag in nanoseconds; -1 until a run ends,
	// so an instance that never cleaned reports nothing rather than a
	// reassuring 0.
	drainLag atomic.Int64

	// droppedSightings reads the workstation recorder's count of lost
	// sightings (workstations.Recorder.Dropped); nil until wired.
	droppedSightings atomic.Pointer[func() int64]

	notify notifyInstruments
}

// Latency buckets in seconds: backend calls take well under a millisecond
// to a few; requests up to the Redis timeout and beyond.
var (
	callBuckets    = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	requestBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	cleanupBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60}
)

// New builds the provider, its exporters and the instruments.
func New(ctx context.Context, o Options) (*Metrics, error) {
	if o.Service == "" {
		o.Service = "license-server"
	}
	if o.Licenses <= 0 {
		o.Licenses = DefaultLicenses
	}
	// A registry of our own: the default one is package-level state that
	// every test and library in the process would share.
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(),
		// Explicit, so names do not change when the exporter's default does:
		// counters end in _total, histograms in seconds in _seconds.
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes))
	if err != nil {
		return nil, fmt.Errorf("creating the Prometheus exporter: %w", err)
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", o.Service)}
	if o.Function != "" {
		attrs = append(attrs, attribute.String("faas.name", o.Function))
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(attrs...))
	if err != nil {
		return nil, fmt.Errorf("building the metrics resource: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(exporter)}
	if o.OTLPEndpoint != "" {
		push, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpointURL(o.OTLPEndpoint))
		if err != nil {
			return nil, fmt.Errorf("creating the OTLP metrics exporter for %s: %w", o.OTLPEndpoint, err)
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(push)))
	}
	m := &Metrics{
		provider: sdkmetric.NewMeterProvider(opts...),
		handler:  promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		licenses: newRecentLicenses(o.Licenses),
	}
	m.drainLag.Store(-1)
	if err := m.instruments(m.provider.Meter(scope)); err != nil {
		_ = m.provider.Shutdown(ctx)
		return nil, err
	}
	return m, nil
}

// instruments creates every instrument on meter.
func (m *Metrics) instruments(meter metric.Meter) error {
	var errs []error
	counter := func(name, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	histogram := func(name, desc string, buckets []float64) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithDescription(desc), metric.WithUnit("s"),
			metric.WithExplicitBucketBoundaries(buckets...))
		errs = append(errs, err)
		return h
	}
	m.httpRequests = counter("license_http_server_requests", "HTTP requests served, by function, route pattern, method and status code.")
	m.httpDuration = histogram("license_http_server_request_duration", "Time to serve an HTTP request.", requestBuckets)
	m.acquireOutcomes = counter("license_acquire_outcomes", "Acquire calls by outcome (granted, resumed, denied, invalid, error) and, for denials, the reason.")
	m.redisCalls = counter("license_redis_calls", "Redis commands by command, script (EVALSHA) and status.")
	m.redisDuration = histogram("license_redis_call_duration", "Redis command latency; a pipeline is one call named pipeline.", callBuckets)
	m.pgQueries = counter("license_postgres_queries", "PostgreSQL statements by the function whose request ran them (background when none), first SQL keyword and status.")
	m.pgDuration = histogram("license_postgres_query_duration", "PostgreSQL statement latency; a batch is one call named batch.", callBuckets)
	m.kmsCalls = counter("license_kms_calls", "Cloud KMS calls by the function whose request made them (background when none), method and status.")
	m.kmsDuration = histogram("license_kms_call_duration", "Cloud KMS call latency.", callBuckets)
	m.cleanupRuns = counter("license_cleanup_runs", "Cleanup runs by result: ok, skipped (another run held the lock) or failed.")
	m.cleanupLicenses = counter("license_cleanup_licenses", "Licenses cleanup runs visited.")
	m.cleanupExpired = counter("license_cleanup_expired_sessions", "Expired sessions cleanup runs swept (each recorded as expired).")
	m.cleanupDrained = counter("license_cleanup_drained_entries", "Ledger entries cleanup runs newly stored in PostgreSQL.")
	m.cleanupDuration = histogram("license_cleanup_run_duration", "Duration of cleanup runs that were not skipped.", cleanupBuckets)
	live, err := meter.Int64ObservableGauge("license_seats_live",
		metric.WithDescription("Live sessions of each of the most recently active licenses this instance saw (at most a fixed number of licenses)."))
	errs = append(errs, err)
	util, err := meter.Float64ObservableGauge("license_seats_utilization",
		metric.WithDescription("Live sessions divided by seats, for the licenses license_seats_live reports."))
	errs = append(errs, err)
	lag, err := meter.Float64ObservableGauge("license_ledger_drain_lag", metric.WithUnit("s"),
		metric.WithDescription("For this instance's last cleanup run (not skipped; a failed one only if it read entries): how long the oldest ledger entry it read had waited in Redis (0 when it read none)."))
	errs = append(errs, err)
	dropped, err := meter.Int64ObservableCounter("license_workstation_sightings_dropped",
		metric.WithDescription("Workstation sightings this instance lost: its queue was full (PostgreSQL slow or down) or their write failed. The inventory misses them until the workstation is seen again."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("creating instruments: %w", err)
	}
	if _, err := meter.RegisterCallback(m.observeSeats(live, util), live, util); err != nil {
		return fmt.Errorf("registering the seat gauges: %w", err)
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if ns := m.drainLag.Load(); ns >= 0 {
			o.ObserveFloat64(lag, time.Duration(ns).Seconds())
		}
		return nil
	}, lag); err != nil {
		return fmt.Errorf("registering the drain lag gauge: %w", err)
	}
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if f := m.droppedSightings.Load(); f != nil {
			o.ObserveInt64(dropped, (*f)())
		}
		return nil
	}, dropped); err != nil {
		return fmt.Errorf("registering the dropped sightings counter: %w", err)
	}
	if err := m.notifyInstruments(meter); err != nil {
		return fmt.Errorf("creating the notify instruments: %w", err)
	}
	m.acquireAttrs = acquireAttributes()
	m.cleanupAttrs = map[string]metric.MeasurementOption{}
	for _, r := range []string{"ok", "skipped", "failed"} {
		m.cleanupAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("result", r)))
	}
	return nil
}

// Handler serves the Prometheus text format (GET /metrics). A nil Metrics
// answers 404, as if nothing were mounted.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return m.handler
}

// Shutdown flushes the OTLP exporter (if any) and stops the provider.
func (m *Metrics) Shutdown(ctx context.Context) error {
	if m == nil {
		return nil
	}
	if err := m.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutting down metrics: %w", err)
	}
	return nil
}

// MeterProvider is the provider, for libraries that take one.
func (m *Metrics) MeterProvider() metric.MeterProvider {
	if m == nil {
		return nil
	}
	return m.provider
}

// attrCache hands out one prebuilt attribute option per label combination.
// The combinations are bounded by the code (commands, SQL keywords, KMS
// methods), so it only grows to a fixed size; a read lock keeps the common
// case to a map lookup.
type attrCache[K comparable] struct {
	mu  sync.RWMutex
	set map[K]metric.MeasurementOption
}

func (c *attrCache[K]) get(k K, build func(K) []attribute.KeyValue) metric.MeasurementOption {
	c.mu.RLock()
	o, ok := c.set[k]
	c.mu.RUnlock()
	if ok {
		return o
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.set[k]; ok {
		return o
	}
	if c.set == nil {
		c.set = make(map[K]metric.MeasurementOption)
	}
	o = metric.WithAttributeSet(attribute.NewSet(build(k)...))
	c.set[k] = o
	return o
}

// status is the status label of a backend call.
func status(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}
