package route

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// corsHandler serves a route with GET and POST whose handlers say they ran.
func corsHandler(origins ...string) http.Handler {
	ok := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Ran", "yes")
		w.WriteHeader(http.StatusOK)
	}
	return Handler(Options{Logger: slog.New(slog.DiscardHandler), CORSOrigins: origins}, Function{Name: "F", Routes: []Route{
		{Pattern: "/v1/things", Methods: Methods{http.MethodGet: ok, http.MethodPost: ok}},
	}})
}

// TestCORS: a listed origin's preflight is answered 204 without reaching
// the handler, with the route's methods, the request headers the API reads
// and a max age; its real requests can read the answer and the headers
// clients need. An unknown origin gets no CORS header, and its preflight is
// the route's 405. No answer allows credentials (tokens are bearer headers,
// never cookies).
func TestCORS(t *testing.T) {
	t.Parallel()
	h := corsHandler("https://console.example", "http://localhost:5173")
	send := func(method, origin, reqMethod string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/v1/things", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if reqMethod != "" {
			r.Header.Set("Access-Control-Request-Method", reqMethod)
			r.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	pre := send("OPTIONS", "https://console.example", "POST")
	if pre.Code != 204 || pre.Header().Get("X-Ran") != "" || pre.Body.Len() != 0 {
		t.Fatalf("preflight = %d %v %q", pre.Code, pre.Header(), pre.Body)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "https://console.example",
		"Access-Control-Allow-Methods": "GET, HEAD, POST",
		"Access-Control-Allow-Headers": "Authorization, Content-Type, Idempotency-Key",
		"Access-Control-Max-Age":       "3600",
		"Vary":                         "Origin",
	} {
		if got := pre.Header().Get(k); got != want {
			t.Errorf("preflight %s = %q, want %q", k, got, want)
		}
	}
	real := send("POST", "http://localhost:5173", "")
	if real.Code != 200 || real.Header().Get("X-Ran") != "yes" ||
		real.Header().Get("Access-Control-Allow-Origin") != "http://localhost:5173" || real.Header().Get("Vary") != "Origin" ||
		real.Header().Get("Access-Control-Expose-Headers") != corsExposeHeaders {
		t.Fatalf("real request = %d %v", real.Code, real.Header())
	}

	for name, w := range map[string]*httptest.ResponseRecorder{
		"unknown origin's preflight":    send("OPTIONS", "https://evil.example", "POST"),
		"unknown origin's request":      send("GET", "https://evil.example", ""),
		"origin differing in scheme":    send("OPTIONS", "http://console.example", "POST"),
		"origin differing in port":      send("GET", "https://console.example:8443", ""),
		"a suffix of a listed origin":   send("GET", "https://console.example.evil.example", ""),
		"OPTIONS without a preflight":   send("OPTIONS", "", ""),
		"request without an Origin":     send("GET", "", ""),
		"preflight without an Origin":   send("OPTIONS", "", "POST"),
		"the literal null origin":       send("OPTIONS", "null", "POST"),
		"listed origin, other casing":   send("GET", "https://CONSOLE.example", ""),
		"listed origin, trailing slash": send("GET", "https://console.example/", ""),
	} {
		for k := range w.Header() {
			if len(k) > 15 && k[:15] == "Access-Control-" {
				t.Errorf("%s: CORS header %s: %v", name, k, w.Header())
			}
		}
		if w.Header().Get("Vary") != "Origin" {
			t.Errorf("%s: Vary = %q", name, w.Header().Get("Vary"))
		}
		if w.Code == 204 {
			t.Errorf("%s: answered as a preflight", name)
		}
	}
	if w := send("OPTIONS", "https://evil.example", "POST"); w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("unknown origin's preflight = %d %v, want the route's 405", w.Code, w.Header())
	}
	for _, w := range []*httptest.ResponseRecorder{pre, real, send("GET", "https://evil.example", "")} {
		if v, ok := w.Header()["Access-Control-Allow-Credentials"]; ok {
			t.Errorf("Access-Control-Allow-Credentials: %v", v)
		}
	}

	// Without CORS_ALLOWED_ORIGINS nothing changes: no CORS header, no Vary.
	w := httptest.NewRecorder()
	r := httptest.NewRequest("OPTIONS", "/v1/things", nil)
	r.Header.Set("Origin", "https://console.example")
	r.Header.Set("Access-Control-Request-Method", "GET")
	corsHandler().ServeHTTP(w, r)
	if w.Code != 405 || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "" {
		t.Errorf("no origins configured: %d %v", w.Code, w.Header())
	}
}

// TestHSTS: every answer over HTTPS carries Strict-Transport-Security,
// whether TLS ended at this server (r.TLS) or at the load balancer, which
// says so in X-Forwarded-Proto; plain HTTP answers do not (make run). It
// covers the routes' answers, errors, the catch-all 404 and preflights.
func TestHSTS(t *testing.T) {
	t.Parallel()
	h := corsHandler("https://console.example")
	for _, c := range []struct {
		name   string
		proto  string
		tls    bool
		path   string
		method string
		want   bool
	}{
		{"load balancer said https", "https", false, "/v1/things", "GET", true},
		{"load balancer said HTTPS, listed first", "HTTPS, http", false, "/v1/things", "POST", true},
		{"TLS at this server", "", true, "/v1/things", "GET", true},
		{"https, an unknown path", "https", false, "/nowhere", "GET", true},
		{"https, a wrong method", "https", false, "/v1/things", "DELETE", true},
		{"https, a preflight", "https", false, "/v1/things", "OPTIONS", true},
		{"https, liveness", "https", false, "/health/", "GET", true},
		{"plain http", "", false, "/v1/things", "GET", false},
		{"load balancer said http", "http", false, "/v1/things", "GET", false},
		{"http first", "http, https", false, "/v1/things", "GET", false},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if c.method == "OPTIONS" {
			r.Header.Set("Origin", "https://console.example")
			r.Header.Set("Access-Control-Request-Method", "GET")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		got := w.Header().Get("Strict-Transport-Security")
		if c.want && got != "max-age=31536000; includeSubDomains" || !c.want && got != "" {
			t.Errorf("%s: %d, Strict-Transport-Security %q", c.name, w.Code, got)
		}
	}
	// Over a real TLS connection too.
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/v1/things")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Strict-Transport-Security") != HSTS {
		t.Fatalf("over TLS: %v", resp.Header)
	}
}
