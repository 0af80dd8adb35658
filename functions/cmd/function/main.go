// Command function is the production entry point: the container image every
// Knative service runs. FUNCTION_TARGET names the one function a service
// serves (functions-framework then serves it at "/", so it sees the public
// path the Ingress forwards); without it, every function is served.
//
// Metrics: an HTTP function's own handler answers GET /metrics on PORT
// (functions-framework hands it every path; the Ingress routes none there,
// so it is not public). The Cleanup function cannot: functions-framework
// serves its CloudEvent handler on every path of PORT, and a name given to
// functions.HTTP is not served once FUNCTION_TARGET is set. METRICS_PORT,
// when set, therefore also serves GET /metrics on a port of its own, for
// every function; OTEL_EXPORTER_OTLP_ENDPOINT pushes instead of waiting
// for a scrape.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/catalog"
	"github.com/coditect-ai/license-server/functions/cleanup"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/gctune"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/secrets"
)

func main() {
	// Before anything allocates much; GOGC and GOMEMLIMIT still win.
	gctune.Apply(config.Env, gctune.CgroupMemoryMax)
	if err := run(context.Background()); err != nil {
		// Logged as JSON so Cloud Logging shows why the revision failed.
		logging.New(os.Stderr, slog.LevelInfo).Error("start-up failed", "error", err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := secrets.LoadConfig(ctx, config.Env, secrets.OpenManager)
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	target := os.Getenv("FUNCTION_TARGET")
	if target != "" && !slices.Contains(catalog.Names(), target) {
		return fmt.Errorf("FUNCTION_TARGET %q is not one of %v", target, catalog.Names())
	}
	needs := catalog.Needs(target)
	if err := cfg.RequireBackends(needs); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	// One line per request, written in batches (see logging.Buffered);
	// flushed on SIGTERM below.
	logs := logging.NewBuffered(os.Stdout, 64<<10, 100*time.Millisecond)
	defer logs.Close()
	logger := logging.New(logs, cfg.LogLevel)
	slog.SetDefault(logger)
	redis.SetLogger(logging.RedisLogger{Logger: logger})
	m, err := metrics.New(ctx, metrics.Options{Function: target, OTLPEndpoint: cfg.Metrics.OTLPEndpoint})
	if err != nil {
		return err
	}
	inflight := &route.Inflight{}
	flushOnTerm(m, cfg.Metrics.OTLPEndpoint != "", logs, logger, inflight)
	if cfg.Metrics.Port != 0 {
		if err := serveMetrics(cfg.Metrics.Port, m, logger); err != nil {
			return err
		}
	}
	b, err := backend.Open(ctx, cfg, logger, m)
	if err != nil {
		return err
	}
	defer b.Close()
	if target == "" || target == cleanup.Name {
		fn, err := catalog.Cleanup(b, logger)
		if err != nil {
			return err
		}
		functions.CloudEvent(cleanup.Name, func(ctx context.Context, e event.Event) error {
			done := inflight.Begin()
			defer done()
			return fn.Handle(ctx, e)
		})
	}
	if target != cleanup.Name {
		if err := registerHTTP(ctx, cfg, b, logger, target, needs, m, inflight); err != nil {
			return err
		}
	}
	logger.Info("serving", "port", cfg.Port, "function", target)
	return funcframework.Start(strconv.Itoa(cfg.Port))
}

// registerHTTP registers the HTTP functions (one, or all for ""). Only a
// function that signs opens the root key, so only those need KMS access.
func registerHTTP(ctx context.Context, cfg config.Config, b *backend.Backend, logger *slog.Logger, target string, needs config.Needs, m *metrics.Metrics, inflight *route.Inflight) error {
	var root rootkey.Root
	if needs.Signing {
		var err error
		if root, err = catalog.Root(ctx, cfg.Signing, logger, m); err != nil {
			return err
		}
	}
	fns, err := catalog.Build(ctx, b, cfg, root, logger, target)
	if err != nil {
		return err
	}
	opts := route.Options{Logger: logger, ProjectID: cfg.ProjectID, Metrics: m, RequestTimeout: cfg.RequestTimeout}
	for _, f := range fns {
		functions.HTTP(f.Name, inflight.Wrap(route.Handler(opts, f)).ServeHTTP)
	}
	return nil
}

// Bounds of the metrics server: a scrape is small and quick.
const (
	metricsReadTimeout  = 5 * time.Second
	metricsWriteTimeout = 30 * time.Second
)

// serveMetrics serves GET /metrics on port in the background. It listens
// before returning, so a port in use stops start-up.
func serveMetrics(port int, m *metrics.Metrics, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return fmt.Errorf("listening on METRICS_PORT %d: %w", port, err)
	}
	mux := http.NewServeMux()
	mux.Handle(route.MetricsPattern, m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: metricsReadTimeout, ReadTimeout: metricsReadTimeout,
		WriteTimeout: metricsWriteTimeout}
	go func() {
		if err := srv.Serve(ln); err != nil {
			logger.Error("metrics server stopped", "error", err.Error())
		}
	}()
	return nil
}

// metricsFlushTimeout bounds the last OTLP push on SIGTERM.
const metricsFlushTimeout = 5 * time.Second

// drainTimeout bounds the wait for in-flight calls on SIGTERM: under the
// longest service timeout (60 s), which Knative also gives as the grace
// period before SIGKILL.
const drainTimeout = 55 * time.Second

// flushOnTerm lets the calls in flight finish, then pushes the metrics not
// yet exported (with OTLP) and writes the buffered log lines when the
// process is told to stop:
// functions-framework has no shutdown hook, and the default SIGTERM would
// lose them. It then exits as SIGTERM would have.
func flushOnTerm(m *metrics.Metrics, pushMetrics bool, logs *logging.Buffered, logger *slog.Logger, inflight *route.Inflight) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-term
		// Knative sends SIGTERM once it routes nothing more here: finish
		// what is in flight, then go.
		ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		if err := inflight.Wait(ctx); err != nil {
			logger.Warn("stopping with calls still in flight", "error", err.Error())
		}
		cancel()
		logger.Info("stopped")
		if pushMetrics {
			ctx, cancel := context.WithTimeout(context.Background(), metricsFlushTimeout)
			if err := m.Shutdown(ctx); err != nil {
				logger.Warn("flushing metrics on shutdown", "error", err.Error())
			}
			cancel()
		}
		logs.Close()
		os.Exit(0)
	}()
}
