package route

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/logging"
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
