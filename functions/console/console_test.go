package console

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

var built = fstest.MapFS{
	"index.html":              {Data: []byte(`<!doctype html><script type="module" src="/console/assets/index-abc123.js"></script>`)},
	"docs.html":               {Data: []byte(`<!doctype html><main id="reference"></main>`)},
	"assets/index-abc123.js":  {Data: []byte(`console.log("app")`)},
	"assets/index-abc123.css": {Data: []byte(`body{}`)},
	"robots.txt":              {Data: []byte("User-agent: *\nDisallow: /\n")},
}

func serve(t *testing.T, files fstest.MapFS, c config.Console) http.Handler {
	t.Helper()
	f, err := New(files, c)
	if err != nil {
		t.Fatal(err)
	}
	return route.Handler(route.Options{Logger: slog.New(slog.DiscardHandler)}, f)
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	return w
}

// TestPagesAssetsAndCaching: hashed assets are cached for good, the pages
// that name them never without asking, and any address under /console/
// that is not a file loads the app (its router shows the page).
func TestPagesAssetsAndCaching(t *testing.T) {
	t.Parallel()
	h := serve(t, built, config.Console{TokenSignIn: true})
	for _, c := range []struct {
		path, status, contentType, cache, body string
		csp                                    bool
	}{
		{"/console/", "200", "text/html; charset=utf-8", "no-cache", "index-abc123.js", true},
		{"/console/tenants/5f0c/licenses", "200", "text/html; charset=utf-8", "no-cache", "index-abc123.js", true},
		{"/console/index.html", "200", "text/html; charset=utf-8", "no-cache", "index-abc123.js", true},
		{"/console/assets/index-abc123.js", "200", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "app", false},
		{"/console/assets/index-abc123.css", "200", "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body", false},
		{"/console/robots.txt", "200", "text/plain; charset=utf-8", "public, max-age=3600", "Disallow", false},
		{"/console/assets/missing.js", "404", "application/json", "", "not_found", false},
		{"/console/assets/../index.html", "", "", "", "", false}, // cleaned by the mux: a redirect
		{"/docs/", "200", "text/html; charset=utf-8", "no-cache", "reference", true},
	} {
		w := get(h, c.path)
		if c.status == "" {
			if w.Code/100 != 3 {
				t.Errorf("%s: %d, want a redirect", c.path, w.Code)
			}
			continue
		}
		if got := w.Result().Status[:3]; got != c.status {
			t.Errorf("%s: %s, want %s", c.path, got, c.status)
		}
		if got := w.Header().Get("Content-Type"); got != c.contentType {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.contentType)
		}
		if c.cache != "" && w.Header().Get("Cache-Control") != c.cache {
			t.Errorf("%s: Cache-Control %q, want %q", c.path, w.Header().Get("Cache-Control"), c.cache)
		}
		if !strings.Contains(w.Body.String(), c.body) {
			t.Errorf("%s: body %q lacks %q", c.path, w.Body.String(), c.body)
		}
		if csp := w.Header().Get("Content-Security-Policy"); c.csp != (csp != "") {
			t.Errorf("%s: Content-Security-Policy %q", c.path, csp)
		}
		if c.status == "200" && w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", c.path)
		}
	}
	for path, to := range map[string]string{"/console": "/console/", "/docs": "/docs/"} {
		if w := get(h, path); w.Code != http.StatusMovedPermanently || w.Header().Get("Location") != to {
			t.Errorf("%s: %d to %q, want 301 to %s", path, w.Code, w.Header().Get("Location"), to)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/console/", strings.NewReader("{}")))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/: %d, want 405", w.Code)
	}
}

// TestContentSecurityPolicy: scripts only from this origin, no framing,
// and the network only this origin (plus Google's sign-in endpoints when
// Identity Platform is configured, not when the local stand-in is).
func TestContentSecurityPolicy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		cfg      config.Console
		google   bool
		settings string
	}{
		{"token only", config.Console{TokenSignIn: true}, false, `{"api_base":"","identity_platform":null,"token_sign_in":true}`},
		{"identity platform", config.Console{FirebaseAPIKey: "AIza-browser-key", Project: "acme-prod", PlatformTenant: "staff-1"}, true,
			`{"api_base":"","identity_platform":{"api_key":"AIza-browser-key","auth_domain":"acme-prod.firebaseapp.com","project_id":"acme-prod","platform_tenant":"staff-1"},"token_sign_in":false}`},
		{"local stand-in", config.Console{DevSignIn: "http://127.0.0.1:8080/dev/idp", Project: "license-server-local", TokenSignIn: true}, false,
			`{"api_base":"","identity_platform":{"api_key":"local","auth_domain":"localhost","project_id":"license-server-local","platform_tenant":"","emulator":"http://127.0.0.1:8080/dev/idp"},"token_sign_in":true}`},
	} {
		h := serve(t, built, c.cfg)
		for _, page := range []string{"/console/", "/docs/"} {
			csp := get(h, page).Header().Get("Content-Security-Policy")
			directives := map[string]string{}
			for _, d := range strings.Split(csp, ";") {
				name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
				directives[name] = value
			}
			if directives["script-src"] != "'self'" || directives["frame-ancestors"] != "'none'" ||
				directives["default-src"] != "'none'" || directives["base-uri"] != "'none'" {
				t.Errorf("%s %s: %q", c.name, page, csp)
			}
			if got := strings.Contains(directives["connect-src"], "https://identitytoolkit.googleapis.com"); got != c.google {
				t.Errorf("%s %s: connect-src %q", c.name, page, directives["connect-src"])
			}
			// Inline styles only where the reference's renderer needs them.
			if inline := strings.Contains(directives["style-src"], "unsafe-inline"); inline != (page == "/docs/") {
				t.Errorf("%s %s: style-src %q", c.name, page, directives["style-src"])
			}
		}
		w := get(h, ConfigPath)
		if w.Code != 200 || w.Header().Get("Cache-Control") != "no-cache" || w.Body.String() != c.settings {
			t.Errorf("%s: config.json %d %q\n got %s\nwant %s", c.name, w.Code, w.Header().Get("Cache-Control"), w.Body.String(), c.settings)
		}
		var v map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Errorf("%s: config.json is not JSON: %v", c.name, err)
		}
	}
}

// TestNotBuilt: a binary built before the console (a fresh clone's go
// build) serves the settings and says what to do instead of a blank page.
func TestNotBuilt(t *testing.T) {
	t.Parallel()
	h := serve(t, fstest.MapFS{".gitkeep": {}}, config.Console{})
	for _, path := range []string{"/console/", "/docs/", "/console/licenses"} {
		w := get(h, path)
		body, _ := io.ReadAll(w.Body)
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"console_not_built"`) {
			t.Errorf("%s: %d %s", path, w.Code, body)
		}
	}
	if w := get(h, ConfigPath); w.Code != 200 {
		t.Errorf("config.json: %d", w.Code)
	}
	if _, err := New(nil, config.Console{}); err == nil {
		t.Error("New(nil) made a function")
	}
}

// TestSpecNeedsNothing: the console is built from nothing but its
// settings: no Redis, PostgreSQL, credential or key reaches it, so it
// answers its pages whatever state those are in.
func TestSpecNeedsNothing(t *testing.T) {
	t.Parallel()
	s := Spec()
	if s.Needs != (function.Needs{}) || s.Event != nil {
		t.Fatalf("Console's spec needs %+v", s.Needs)
	}
	f, err := s.HTTP(function.Deps{Console: config.Console{TokenSignIn: true}})
	if err != nil {
		t.Fatal(err)
	}
	if w := get(route.Handler(route.Options{Logger: slog.New(slog.DiscardHandler)}, f), ConfigPath); w.Code != 200 {
		t.Fatalf("config.json: %d", w.Code)
	}
}

// TestCompressionAndRevalidation: text goes out gzipped to browsers that
// take it (and plain to those that do not), every answer names its ETag,
// and asking with that ETag costs a 304 and no body.
func TestCompressionAndRevalidation(t *testing.T) {
	t.Parallel()
	script := strings.Repeat(`export const answer = "forty-two";`+"\n", 200)
	files := fstest.MapFS{
		"index.html":         {Data: []byte(`<!doctype html>` + strings.Repeat(`<p>console</p>`, 100))},
		"assets/app-1a.js":   {Data: []byte(script)},
		"assets/logo-2b.png": {Data: bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 300)},
		".gitkeep":           {},
	}
	h := serve(t, files, config.Console{})
	do := func(method, path string, header map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for _, c := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip, deflate, br", true},
		{"br;q=1.0, GZIP;q=0.5", true},
		{"gzip;q=0", false},
		{"identity", false},
		{"", false},
	} {
		w := do(http.MethodGet, "/console/assets/app-1a.js", map[string]string{"Accept-Encoding": c.accept})
		if w.Code != 200 || (w.Header().Get("Content-Encoding") == "gzip") != c.gzip || w.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("Accept-Encoding %q: %d, Content-Encoding %q, Vary %q", c.accept, w.Code,
				w.Header().Get("Content-Encoding"), w.Header().Get("Vary"))
		}
		body := w.Body.Bytes()
		if c.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
			if w.Body.Len() >= len(script)/4 {
				t.Errorf("gzipped %d bytes of %d", w.Body.Len(), len(script))
			}
		}
		if string(body) != script || w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
			t.Fatalf("Accept-Encoding %q: the body is not the file (%d bytes, Content-Length %s)", c.accept, len(body), w.Header().Get("Content-Length"))
		}
	}
	// Images are not gzipped again, nor do they vary.
	if w := do(http.MethodGet, "/console/assets/logo-2b.png", map[string]string{"Accept-Encoding": "gzip"}); w.Header().Get("Content-Encoding") != "" || w.Header().Get("Vary") != "" {
		t.Errorf("png: Content-Encoding %q, Vary %q", w.Header().Get("Content-Encoding"), w.Header().Get("Vary"))
	}
	// Dot files of the build folder are not served.
	if w := do(http.MethodGet, "/console/.gitkeep", nil); w.Code != http.StatusNotFound {
		t.Errorf(".gitkeep: %d %q, want 404", w.Code, w.Body.String())
	}

	page := do(http.MethodGet, "/console/", nil)
	etag := page.Header().Get("ETag")
	if page.Code != 200 || !strings.HasPrefix(etag, `"`) || len(etag) < 10 {
		t.Fatalf("page: %d, ETag %q", page.Code, etag)
	}
	for _, inm := range []string{etag, `W/` + etag, `"other", ` + etag, "*"} {
		w := do(http.MethodGet, "/console/licenses", map[string]string{"If-None-Match": inm, "Accept-Encoding": "gzip"})
		if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("If-None-Match %s: %d, %d bytes", inm, w.Code, w.Body.Len())
		}
	}
	if w := do(http.MethodGet, "/console/", map[string]string{"If-None-Match": `"stale"`}); w.Code != 200 || w.Body.Len() == 0 {
		t.Errorf("a stale ETag: %d, %d bytes", w.Code, w.Body.Len())
	}
	if w := do(http.MethodHead, "/console/assets/app-1a.js", nil); w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != strconv.Itoa(len(script)) {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %s", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}
