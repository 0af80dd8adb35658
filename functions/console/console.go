// Package console is the Console function: it serves the admin web
// console (a React single-page app built from web/ into dist/) at
// /console/, its sign-in settings at /console/config.json, and a rendered
// reference of the API's OpenAPI document at /docs/. It is static: it
// touches neither Redis nor PostgreSQL, and the pages call the API on the
// same origin with the signed-in person's bearer token.
package console

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Console"

// Paths the function serves.
const (
	Prefix     = "/console/"
	ConfigPath = Prefix + "config.json"
	DocsPrefix = "/docs/"
	// assetsDir holds Vite's content-hashed files: a name changes whenever
	// its content does, so browsers may keep them for good.
	assetsDir = "assets/"
)

// Cache lifetimes: hashed assets forever, the pages that name them never
// without asking (a deploy must reach the next page load).
const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
	// cacheShort is for unhashed files beside index.html (the icon).
	cacheShort = "public, max-age=3600"
)

// Firebase's endpoints the sign-in page calls with Identity Platform.
const (
	identityToolkit = "https://identitytoolkit.googleapis.com"
	secureToken     = "https://securetoken.googleapis.com"
)

// Settings are what the pages are told at /console/config.json.
type Settings struct {
	// APIBase is where the API is ("": this origin, as in production).
	APIBase string `json:"api_base"`
	// IdentityPlatform, when set, signs people in with an e-mail link
	// through Identity Platform (the Firebase Auth SDK).
	IdentityPlatform *IdentityPlatform `json:"identity_platform"`
	// TokenSignIn offers pasting an API key or the bootstrap token.
	TokenSignIn bool `json:"token_sign_in"`
}

// IdentityPlatform is the Firebase Auth SDK's configuration.
type IdentityPlatform struct {
	APIKey     string `json:"api_key"`
	AuthDomain string `json:"auth_domain"`
	ProjectID  string `json:"project_id"`
	// PlatformTenant is the Identity Platform tenant of the vendor's own
	// staff ("": the project's users); a customer's people sign in through
	// their tenant's, named in the console's address (?idp_tenant=).
	PlatformTenant string `json:"platform_tenant"`
	// Emulator is the address of a stand-in for Google's endpoints (the
	// local server's); "" in production.
	Emulator string `json:"emulator,omitempty"`
}

// SettingsFrom turns the configuration into what the pages are told.
func SettingsFrom(c config.Console) Settings {
	s := Settings{TokenSignIn: c.TokenSignIn}
	switch {
	case c.DevSignIn != "":
		s.IdentityPlatform = &IdentityPlatform{APIKey: "local", AuthDomain: "localhost", ProjectID: c.Project,
			PlatformTenant: c.PlatformTenant, Emulator: c.DevSignIn}
	case c.FirebaseAPIKey != "":
		domain := c.AuthDomain
		if domain == "" {
			domain = c.Project + ".firebaseapp.com"
		}
		s.IdentityPlatform = &IdentityPlatform{APIKey: c.FirebaseAPIKey, AuthDomain: domain, ProjectID: c.Project,
			PlatformTenant: c.PlatformTenant}
	}
	return s
}

// handler serves the built files.
type handler struct {
	files    map[string]*asset // by path in the build ("index.html", "assets/…")
	index    *asset            // nil: the console is not built
	docs     *asset
	settings *asset
	csp      string
	docsCSP  string
}

// New returns the function serving files (the build's root, holding
// index.html, docs.html and assets/) with c's sign-in settings. The files
// are read once, here: the build is part of the binary and never changes
// while it runs.
func New(files fs.FS, c config.Console) (route.Function, error) {
	if files == nil {
		return route.Function{}, errors.New("console: no files")
	}
	s := SettingsFrom(c)
	settings, err := json.Marshal(s)
	if err != nil {
		return route.Function{}, fmt.Errorf("console: encoding settings: %w", err)
	}
	h := &handler{files: map[string]*asset{}, settings: newAsset("config.json", settings),
		csp: policy(s, false), docsCSP: policy(s, true)}
	err = fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(path.Base(name), ".") {
			return err
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		h.files[name] = newAsset(name, body)
		return nil
	})
	if err != nil {
		return route.Function{}, fmt.Errorf("console: reading the build: %w", err)
	}
	h.index, h.docs = h.files["index.html"], h.files["docs.html"]
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/console", Methods: route.Methods{http.MethodGet: redirect(Prefix)}},
		{Pattern: Prefix, Methods: route.Methods{http.MethodGet: h.console}},
		{Pattern: "/docs", Methods: route.Methods{http.MethodGet: redirect(DocsPrefix)}},
		{Pattern: DocsPrefix + "{$}", Methods: route.Methods{http.MethodGet: h.reference}},
	}}, nil
}

// policy is the Content-Security-Policy of the pages: scripts only from
// this origin (no inline script, no eval), nothing may frame them, and
// they talk only to this origin and, when signing in through Identity
// Platform, Google's sign-in endpoints. The API reference's renderer sets
// its styles at run time, so that page alone allows inline styles.
func policy(s Settings, docs bool) string {
	connect := []string{"'self'"}
	if ip := s.IdentityPlatform; ip != nil && ip.Emulator == "" {
		connect = append(connect, identityToolkit, secureToken)
	}
	if s.APIBase != "" {
		connect = append(connect, s.APIBase)
	}
	style := "'self'"
	if docs {
		style = "'self' 'unsafe-inline'"
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src " + style,
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src " + strings.Join(connect, " "),
		"worker-src 'self' blob:",
		"manifest-src 'self'",
		"base-uri 'none'",
		"form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

func redirect(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to, http.StatusMovedPermanently)
	}
}

// console serves /console/...: the settings, a built file, or, for any
// other path, index.html, whose router shows the page the path names (so
// a bookmarked /console/licenses/… loads).
func (h *handler) console(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	switch {
	case r.URL.Path == ConfigPath:
		h.settings.serve(w, r, cacheRevalidate, "")
		return
	case strings.HasPrefix(name, assetsDir):
		h.file(w, r, name, cacheImmutable)
		return
	case name != "" && !strings.Contains(name, "/") && path.Ext(name) != "" && name != "index.html" && name != "docs.html":
		h.file(w, r, name, cacheShort)
		return
	}
	h.page(w, r, h.index, h.csp)
}

// reference serves the API reference page.
func (h *handler) reference(w http.ResponseWriter, r *http.Request) {
	h.page(w, r, h.docs, h.docsCSP)
}

func (h *handler) page(w http.ResponseWriter, r *http.Request, a *asset, csp string) {
	if a == nil {
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusServiceUnavailable, "console_not_built",
			"the console is not built into this binary: run make console (or make run), then rebuild"))
		return
	}
	a.serve(w, r, cacheRevalidate, csp)
}

// file serves one built file, or the JSON 404.
func (h *handler) file(w http.ResponseWriter, r *http.Request, name, cache string) {
	a, ok := h.files[name]
	if !ok {
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusNotFound, "not_found", "no such file: %s", name))
		return
	}
	a.serve(w, r, cache, "")
}

// asset is one file as served: its bytes, their ETag, and (made on first
// request, for text) their gzip encoding, which is what browsers fetch:
// the console's first load is about a third of its size gzipped.
type asset struct {
	contentType string
	body        []byte
	etag        string
	gzipOnce    sync.Once
	gzipped     []byte // nil: not worth it
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	return &asset{contentType: contentType(name), body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// compressible are the types worth gzipping (images and fonts already are).
func (a *asset) compressible() bool {
	t := a.contentType
	return strings.HasPrefix(t, "text/") || strings.HasPrefix(t, "application/json") || t == "image/svg+xml"
}

func (a *asset) gzip() []byte {
	a.gzipOnce.Do(func() {
		if !a.compressible() || len(a.body) < 512 {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
		zw.Write(a.body)                                         //nolint:errcheck // a bytes.Buffer does not fail
		zw.Close()                                               //nolint:errcheck // likewise
		if buf.Len() < len(a.body) {
			a.gzipped = buf.Bytes()
		}
	})
	return a.gzipped
}

// serve writes the asset with the security headers every answer carries;
// csp is set on pages. A request naming the current ETag gets 304.
func (a *asset) serve(w http.ResponseWriter, r *http.Request, cache, csp string) {
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", a.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	// The origin only: Identity Platform checks it against the browser
	// key's allowed referrers, and no path (an e-mail link's code) leaves.
	hd.Set("Referrer-Policy", "strict-origin")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if csp != "" {
		hd.Set("Content-Security-Policy", csp)
	}
	body := a.body
	if a.compressible() {
		hd.Add("Vary", "Accept-Encoding")
		if gz := a.gzip(); gz != nil && acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
			body = gz
		}
	}
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body) //nolint:errcheck // the client went away; nothing to do
}

// acceptsGzip reads Accept-Encoding: gzip listed, and not with q=0.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// etagMatches reads If-None-Match: "*" or a list holding the tag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// contentType by extension: the few kinds a Vite build writes (the
// standard table differs between systems; these must not).
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	case ".json", ".map":
		return "application/json"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	case ".ico":
		return "image/x-icon"
	case ".woff2":
		return "font/woff2"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
