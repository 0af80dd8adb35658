package route

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/metrics"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	f := Function{Name: "Boom", Routes: []Route{
		{Pattern: "/v1/boom", Methods: Methods{
			http.MethodPost: func(http.ResponseWriter, *http.Request) { panic("secret state") },
			http.MethodGet:  func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) },
		}},
	}}
	h := Handler(Options{Logger: logging.New(&logs, slog.LevelInfo), ProjectID: "proj"}, f)

	cases := []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/v1/boom", 500, `{"error":{"code":"internal","message":"internal error"}}`},
		{"GET", "/v1/boom", 418, ``},
		{"DELETE", "/v1/boom", 405, `"code":"method_not_allowed"`},
		{"GET", "/health/", 200, `{"status":"ok"}`},
		{"GET", "/elsewhere", 404, `"code":"not_found"`},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(c.method, c.path, nil)
		r.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
		h.ServeHTTP(w, r)
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s %s = %d %s; want %d %s", c.method, c.path, w.Code, w.Body, c.status, c.body)
		}
		if strings.Contains(w.Body.String(), "secret state") {
			t.Error("panic detail sent to the client")
		}
	}
	out := logs.String()
	if strings.Count(out, "\n") != len(cases) {
		t.Errorf("want one log line per request, got:\n%s", out)
	}
	for _, want := range []string{`"severity":"ERROR"`, `panic: secret state`, `"function":"Boom"`,
		`"logging.googleapis.com/trace":"projects/proj/traces/0af7651916cd43dd8448eb211c80319c"`, `"status":418`} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %s:\n%s", want, out)
		}
	}
}

// TestMetrics: with Options.Metrics, every request is counted under its
// function and route pattern (an unknown path under "none" and "/"), and
// GET /metrics serves them without counting or logging itself.
func TestMetrics(t *testing.T) {
	t.Parallel()
	m, err := metrics.New(context.Background(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	f := Function{Name: "Things", Routes: []Route{{Pattern: "/v1/things/{id}", Methods: Methods{
		http.MethodGet: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) },
	}}}}
	h := Handler(Options{Logger: logging.New(&logs, slog.LevelInfo), Metrics: m}, f)
	for _, path := range []string{"/v1/things/a1", "/v1/things/b2", "/nowhere/c3"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`license_http_server_requests_total{code="202",function="Things",method="GET",route="/v1/things/{id}"} 2`,
		`license_http_server_requests_total{code="404",function="none",method="GET",route="/"} 1`,
	} {
		if w.Code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET /metrics = %d, lacks %s:\n%s", w.Code, want, body)
		}
	}
	for _, leak := range []string{"a1", "b2", "c3", `route="/metrics"`} {
		if strings.Contains(body, leak) {
			t.Errorf("metrics carry %q", leak)
		}
	}
	if strings.Count(logs.String(), "\n") != 3 {
		t.Errorf("want the three requests logged, not the scrape:\n%s", logs.String())
	}
}
