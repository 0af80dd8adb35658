// Command function is the production entry point: the container image every
// Knative service runs. FUNCTION_TARGET names the one function a service
// serves, as functions-framework-go's convention has it: an HTTP function on
// its public paths (the Ingress forwards them unchanged), a CloudEvent
// function on every path. Without it, every function is served.
//
// It serves through the same configured http.Server as make run
// (functions/cmd/internal/server): timeouts, and on SIGTERM (Knative sends
// it once it routes nothing more to the pod) a graceful shutdown that
// answers every call in flight, then writes the buffered log lines and
// pending metrics, and exits 0.
//
// Metrics: every function answers GET /metrics on PORT (the Ingress routes
// none there, so it is not public); METRICS_PORT also serves it on a port
// of its own, and OTEL_EXPORTER_OTLP_ENDPOINT pushes instead of waiting for
// a scrape.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/functions/cmd/internal/server"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/clientaddr"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/gctune"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/metrics"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/secrets"
)

func main() {
	// Before anything allocates much; GOGC and GOMEMLIMIT still win.
	gctune.Apply(config.Env, gctune.CgroupMemoryMax)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, config.Env, os.Stdout, nil); err != nil {
		// Logged as JSON so Cloud Logging shows why the revision failed.
		logging.New(os.Stderr, slog.LevelInfo).Error("start-up failed", "error", err.Error())
		os.Exit(1)
	}
}

// metricsFlushTimeout bounds the last OTLP push on shutdown.
const metricsFlushTimeout = 5 * time.Second

// run serves until ctx ends, then shuts down gracefully. A nil listener
// means listen on PORT.
func run(ctx context.Context, env config.Lookup, out io.Writer, ln net.Listener) error {
	cfg, err := secrets.LoadConfig(ctx, env, secrets.OpenManager)
	if err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	target, _ := env("FUNCTION_TARGET")
	specs, err := compose.Select(target)
	if err != nil {
		return err
	}
	needs := function.Union(specs...)
	if err := cfg.RequireBackends(needs.Config()); err != nil {
		return fmt.Errorf("reading configuration: %w", err)
	}
	// One line per request, written in batches (see logging.Buffered);
	// the deferred Close writes what is left once serving has stopped.
	logs := logging.NewBuffered(out, 64<<10, 100*time.Millisecond)
	defer logs.Close()
	logger := logging.New(logs, cfg.LogLevel)
	slog.SetDefault(logger)
	redis.SetLogger(logging.RedisLogger{Logger: logger})
	m, err := metrics.New(ctx, metrics.Options{Function: target, OTLPEndpoint: cfg.Metrics.OTLPEndpoint})
	if err != nil {
		return err
	}
	defer func() {
		// Pushes what the OTLP exporter (if any) has not pushed yet.
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), metricsFlushTimeout)
		defer cancel()
		if err := m.Shutdown(flushCtx); err != nil {
			logger.Warn("flushing metrics on shutdown", "error", err.Error())
		}
	}()
	// Only functions that use Redis and PostgreSQL connect to them (and
	// are given their credentials).
	var b *backend.Backend
	// Served alone, a function logs in as its own database role, named by
	// its spec rather than by the deployment: DATABASE_URL names the server
	// and database, DATABASE_PASSWORD is that role's password.
	if target != "" && needs.Database != "" {
		if cfg.Database.URL, err = database.URLAs(cfg.Database.URL, needs.Database); err != nil {
			return fmt.Errorf("reading configuration: %w", err)
		}
	}
	if needs.Backends() {
		if b, err = backend.Open(ctx, cfg, logger, m); err != nil {
			return err
		}
		defer b.Close()
	}
	// Each function connects as its own database role: a single target
	// through DATABASE_URL, every function at once through a pool per role.
	roles, closeRoles, err := compose.OpenRoles(ctx, b, cfg.Database, target != "", specs, logger, m)
	if err != nil {
		return err
	}
	defer closeRoles()
	built, err := compose.Build(ctx, b, roles, cfg, logger, m, specs)
	if err != nil {
		return err
	}
	opts := route.Options{Logger: logger, ProjectID: cfg.ProjectID, Metrics: m, RequestTimeout: cfg.RequestTimeout,
		ClientAddress: clientaddr.Resolver{Index: cfg.ClientAddressIndex}, CORSOrigins: cfg.CORSAllowedOrigins}
	h := handler(opts, built, target != "")
	if ln == nil {
		if ln, err = net.Listen("tcp", ":"+strconv.Itoa(cfg.Port)); err != nil {
			return fmt.Errorf("listening on port %d: %w", cfg.Port, err)
		}
	}
	srvCfg := server.Defaults()
	if cfg.Metrics.Port != 0 {
		stopMetrics, err := serveMetrics(ctx, cfg.Metrics.Port, m, srvCfg, logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopMetrics()
	}
	logger.Info("serving", "port", cfg.Port, "function", target)
	err = server.Serve(ctx, ln, h, srvCfg)
	logger.Info("stopped")
	return err
}

// handler serves what was built. An HTTP function is served on its own
// paths; a CloudEvent function served alone owns every path, as
// functions-framework serves one (Eventarc and PingSource post to "/"),
// but liveness and GET /metrics; served with the others, a CloudEvent
// function is at /internal/<name>, which the Ingress never routes.
func handler(opts route.Options, built compose.Built, alone bool) http.Handler {
	if alone && len(built.HTTP) == 1 {
		return route.Handler(opts, built.HTTP[0])
	}
	mux := http.NewServeMux()
	for name, fn := range built.Events {
		if alone {
			mux.HandleFunc("GET "+route.LivenessPattern, route.Live)
			if opts.Metrics != nil {
				mux.Handle(route.MetricsPattern, opts.Metrics.Handler())
			}
			mux.Handle("/", opts.Metrics.HTTP(name, "/", route.CloudEvents(fn, "")))
			return mux
		}
		path := "/internal/" + strings.ToLower(name)
		mux.Handle(path, opts.Metrics.HTTP(name, path, route.CloudEvents(fn, "")))
	}
	mux.Handle("/", route.Mux(opts, built.HTTP...))
	return mux
}

// serveMetrics serves GET /metrics on port in the background until the
// returned function stops it. It listens before returning, so a port in
// use stops start-up.
func serveMetrics(ctx context.Context, port int, m *metrics.Metrics, c server.Config, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("listening on METRICS_PORT %d: %w", port, err)
	}
	mux := http.NewServeMux()
	mux.Handle(route.MetricsPattern, m.Handler())
	stop, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := server.Serve(stop, ln, mux, c); err != nil {
			logger.Error("metrics server stopped", "error", err.Error())
		}
	}()
	return func() { cancel(); <-done }, nil
}
