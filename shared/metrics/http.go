package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Background is the function label of work no request started (delegation
// renewal, the workstation recorder, cleanup runs).
const Background = "background"

// functionKey marks a request's context with the route serving it, so
// PostgreSQL and KMS calls made on its behalf are counted against its
// function: that is how "no PostgreSQL on the hot path" is observable.
type functionKey struct{}

// functionOf is the function whose request ctx belongs to.
func functionOf(ctx context.Context) string {
	if rt, ok := ctx.Value(functionKey{}).(*httpRoute); ok {
		return rt.function
	}
	return Background
}

// httpRoute is one route's instruments' attributes: function and pattern
// fixed, method and status code added per request from a cache.
type httpRoute struct {
	m        *Metrics
	function string
	pattern  string
	mu       sync.RWMutex
	attrs    map[httpKey]metric.MeasurementOption
}

type httpKey struct {
	method string
	code   int
}

// HTTP counts and times the requests next serves for function on route
// pattern (the ServeMux pattern, never the request's path, so a label
// cannot hold an id). function "" is the catch-all of unknown paths,
// labelled "none". A nil Metrics returns next.
func (m *Metrics) HTTP(function, pattern string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	if function == "" {
		function = "none"
	}
	rt := &httpRoute{m: m, function: function, pattern: pattern, attrs: map[httpKey]metric.MeasurementOption{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		ctx := context.WithValue(r.Context(), functionKey{}, rt)
		next.ServeHTTP(sw, r.WithContext(ctx))
		opt := rt.option(r.Method, sw.code)
		m.httpRequests.Add(ctx, 1, opt)
		m.httpDuration.Record(ctx, time.Since(start).Seconds(), opt)
	})
}

// option is the attribute set of one method and status code on this route.
func (rt *httpRoute) option(method string, code int) metric.MeasurementOption {
	k := httpKey{method: knownMethod(method), code: code}
	rt.mu.RLock()
	o, ok := rt.attrs[k]
	rt.mu.RUnlock()
	if ok {
		return o
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if o, ok := rt.attrs[k]; ok {
		return o
	}
	o = metric.WithAttributeSet(attribute.NewSet(
		attribute.String("function", rt.function), attribute.String("route", rt.pattern),
		attribute.String("method", k.method), attribute.String("code", strconv.Itoa(code))))
	rt.attrs[k] = o
	return o
}

// knownMethod keeps the method label bounded: any client may send any
// method name.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// statusWriter remembers the status code written.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
