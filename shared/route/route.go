// Package route puts functions on HTTP paths. A function (one Cloud Function
// / Knative service) owns a few path patterns; the same routes serve it alone
// behind functions-framework (FUNCTION_TARGET) and together with every other
// function in the local server, so both see the same paths.
package route

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/coditect-ai/license-server/shared/clientaddr"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/metrics"
)

// Methods maps an HTTP method to its handler.
type Methods map[string]http.HandlerFunc

// Route is a path pattern (Go 1.22 ServeMux syntax, without a method) and the
// methods it answers.
type Route struct {
	Pattern string
	Methods Methods
}

// Function is a named, separately deployable set of routes.
type Function struct {
	Name   string
	Routes []Route
}

// Options are what every served function shares.
type Options struct {
	Logger    *slog.Logger
	ProjectID string // for trace links in logs; may be empty
	// Metrics, when set, counts and times every request by function and
	// route pattern, and is served at GET /metrics (outside the request
	// log and counters: a scrape is not traffic).
	Metrics *metrics.Metrics
	// RequestTimeout is the deadline of every request's context (0:
	// config.DefaultRequestTimeout, the default of REQUEST_TIMEOUT, so a
	// server built without a configuration behaves as one with it unset),
	// so no call a request makes to PostgreSQL or Redis, nor a wait for one
	// of their pools, outlives it.
	RequestTimeout time.Duration
	// ClientAddress finds each request's client address, which the
	// request's context then carries (clientaddr.From) for the limits
	// keyed by it. The zero value takes the TCP peer.
	ClientAddress clientaddr.Resolver
	// CORSOrigins are the origins (scheme://host[:port], exact) whose
	// browser pages may call the routes (config CORS_ALLOWED_ORIGINS);
	// none: no CORS headers at all (see cors.go).
	CORSOrigins []string
}

// MetricsPattern is where Options.Metrics is served.
const MetricsPattern = "GET /metrics"

// LivenessPattern is the liveness path every served function answers, so a
// probe can reach each function's container.
const LivenessPattern = "/health/{$}"

// Live answers a liveness probe; it depends on nothing.
func Live(w http.ResponseWriter, _ *http.Request) {
	httpjson.Write(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Handler serves one function: its routes, liveness, a JSON 404 for any other
// path, a JSON 405 for a wrong method, one log line per request, and a 500
// envelope instead of a crash on panic.
func Handler(o Options, f Function) http.Handler {
	for _, rt := range f.Routes {
		if rt.Pattern == LivenessPattern {
			return Mux(o, f)
		}
	}
	live := Function{Name: f.Name, Routes: []Route{{Pattern: LivenessPattern, Methods: Methods{http.MethodGet: Live}}}}
	return Mux(o, f, live)
}

// Mux serves several functions on one server, as the local server does.
// Every answer over HTTPS carries Strict-Transport-Security, and each
// route answers the CORS preflights of o.CORSOrigins (cors.go).
func Mux(o Options, fns ...Function) http.Handler {
	timeout := o.RequestTimeout
	if timeout <= 0 {
		timeout = config.DefaultRequestTimeout
	}
	origins := make(map[string]bool, len(o.CORSOrigins))
	for _, origin := range o.CORSOrigins {
		origins[origin] = true
	}
	mux := http.NewServeMux()
	for _, f := range fns {
		for _, rt := range f.Routes {
			mux.Handle(rt.Pattern, o.Metrics.HTTP(f.Name, rt.Pattern,
				logging.Requests(o.Logger, f.Name, o.ProjectID,
					deadline(timeout, o.ClientAddress, cors(origins, rt.Methods, recoverer(rt.Methods))))))
		}
	}
	mux.Handle("/", o.Metrics.HTTP("", "/", logging.Requests(o.Logger, "", o.ProjectID, recoverer(Methods{}))))
	if o.Metrics != nil {
		mux.Handle(MetricsPattern, o.Metrics.Handler())
	}
	return hsts(mux)
}

func (m Methods) allow() string {
	names := make([]string, 0, len(m)+1)
	for k := range m {
		names = append(names, k)
	}
	if _, ok := m[http.MethodGet]; ok {
		names = append(names, http.MethodHead)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ServeHTTP dispatches on the method. A route with no methods is the
// catch-all: every path that matched no route.
func (m Methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(m) == 0 {
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusNotFound, "not_found", "no such endpoint: %s", r.URL.Path))
		return
	}
	h, ok := m[r.Method]
	if !ok && r.Method == http.MethodHead {
		h, ok = m[http.MethodGet]
	}
	if !ok {
		w.Header().Set("Allow", m.allow())
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusMethodNotAllowed, "method_not_allowed",
			"%s is not allowed here; use %s", r.Method, m.allow()))
		return
	}
	h(w, r)
}

// deadline gives the request's context a deadline: a handler waiting on a
// frozen backend gets context.DeadlineExceeded, which it answers as a 503
// unavailable with Retry-After (httpjson.WriteError). The context also
// carries the client address (one copy of the request for both).
func deadline(d time.Duration, addr clientaddr.Resolver, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(clientaddr.With(r.Context(), addr.Of(r)), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				httpjson.WriteError(w, r, fmt.Errorf("panic: %v\n%s", v, debug.Stack()))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
