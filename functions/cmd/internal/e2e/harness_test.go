package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
)

const (
	adminToken = "test-admin-token-0123456789abcdefghij"
	testIssuer = "https://api.test"
)

func testRoot(t *testing.T) *rootkey.Local { return testenv.Root(t) }

// allHTTP builds every function as the entry points do and returns the
// HTTP ones. Unless d names them, each function's database role gets a
// backend of its own on d.Backend's database and Redis, logged in as that
// role, with the credential checks d.Authn makes (same token, verifier and
// limits) rebuilt on it: every function runs with only its role's rights.
func allHTTP(t testing.TB, ctx context.Context, d compose.Deps, authn func(*backend.Backend) (*auth.Authenticator, error)) ([]route.Function, error) {
	t.Helper()
	if d.Notify.SecretsKey == nil {
		d.Notify = testenv.Notify(t)
	}
	if d.Billing.StripeAPIKey == "" {
		d.Billing = testBilling("")
	}
	if d.Roles == nil {
		roles, err := compose.RolesOf(testenv.RoleBackends(t, d.Backend), authn)
		if err != nil {
			return nil, err
		}
		d.Roles = roles
	}
	built, err := compose.All(ctx, d, compose.Specs())
	return built.HTTP, err
}

// api is every function on one httptest server, on real Redis and a fresh
// PostgreSQL database, as the local server runs them.
type api struct {
	t      *testing.T
	srv    *httptest.Server
	prefix string
	b      *backend.Backend
	log    *testenv.LogBuffer
}

// logs is everything the server logged so far.
func (a *api) logs() string { return a.log.String() }

func newAPI(t *testing.T) *api {
	t.Helper()
	b, prefix := testenv.Backend(t)
	a := serve(t, b)
	a.prefix = prefix
	return a
}

// serve puts every function of a backend on a test server.
func serve(t *testing.T, b *backend.Backend) *api {
	t.Helper()
	return serveWith(t, b, nil, config.RateLimit{})
}

// serveWith serves a backend with an identity provider's verifier (nil:
// none) and rate limits (zero: none).
func serveWith(t *testing.T, b *backend.Backend, verifier auth.TokenVerifier, limits config.RateLimit) *api {
	t.Helper()
	return serveWithPlatform(t, b, verifier, "", limits)
}

// serveWithPlatform is serveWith for a platform whose own people sign in
// through the Identity Platform tenant platformIDP.
func serveWithPlatform(t *testing.T, b *backend.Backend, verifier auth.TokenVerifier, platformIDP string, limits config.RateLimit) *api {
	t.Helper()
	return serveWithAuth(t, b, compose.AuthSettings{Verifier: verifier, PlatformIDP: platformIDP, Limits: limits})
}

// authnOn is the tests' usual credential checks on b: the bootstrap token,
// no identity provider, the given rate limits.
func authnOn(b *backend.Backend, limits config.RateLimit) (*auth.Authenticator, error) {
	return compose.AuthenticatorWith(b, compose.AuthSettings{BootstrapToken: adminToken, Limits: limits,
		Logger: slog.New(slog.DiscardHandler)})
}

// serveWithAuth serves every function with the credential checks s
// configures, and the tests' bootstrap token.
func serveWithAuth(t *testing.T, b *backend.Backend, s compose.AuthSettings) *api {
	t.Helper()
	return serveWithAuthNotify(t, b, s, config.Notify{})
}

// serveWithAuthNotify is serveWithAuth with the notification settings n
// (zero: testenv.Notify's).
func serveWithAuthNotify(t *testing.T, b *backend.Backend, s compose.AuthSettings, n config.Notify) *api {
	t.Helper()
	return serveAll(t, b, s, n, config.Billing{})
}

// testBilling is the billing settings of the tests: Stripe's API at
// apiURL ("": an address nothing listens on), testenv's webhook secret.
func testBilling(apiURL string) config.Billing {
	if apiURL == "" {
		apiURL = "http://127.0.0.1:9"
	}
	return config.Billing{StripeAPIKey: "sk_test_suite", StripeWebhookSecret: testenv.StripeWebhookSecret,
		StripeAPIURL: apiURL, Grace: config.DefaultBillingGrace, PortalReturnURL: "https://console.test/"}
}

// serveAll is serveWithAuthNotify with the billing settings bill (zero:
// testBilling's).
func serveAll(t *testing.T, b *backend.Backend, s compose.AuthSettings, n config.Notify, bill config.Billing) *api {
	t.Helper()
	testenv.NoteSecret(t, adminToken)
	s.BootstrapToken = adminToken
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	authn, err := compose.AuthenticatorWith(b, s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fns, err := allHTTP(t, ctx, compose.Deps{Backend: b, Authn: authn, Limits: s.Limits, Root: testRoot(t),
		Issuer: testIssuer, Logger: slog.New(slog.DiscardHandler), Notify: n, Billing: bill},
		func(rb *backend.Backend) (*auth.Authenticator, error) {
			return compose.AuthenticatorWith(rb, s)
		})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: logging.New(logs, slog.LevelInfo)}, fns...))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, b: b, log: logs}
}

// reply is a decoded answer.
type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r reply) str(k string) string { s, _ := r.body[k].(string); return s }

func (r reply) num(k string) int { f, _ := r.body[k].(float64); return int(f) }

// code is the error envelope's code, "" when there is none.
func (r reply) code() string {
	e, _ := r.body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

// call sends a request. body may be a string (sent as is) or a value
// (encoded as JSON); JSON requests get the JSON content type.
func (a *api) call(method, path, token string, body any) reply {
	a.t.Helper()
	return a.callURL(a.srv.URL, method, path, token, body)
}

// callURL is call against another server's base URL.
func (a *api) callURL(base, method, path, token string, body any) reply {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return a.do(req)
}

func (a *api) do(req *http.Request) reply {
	a.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			a.t.Fatalf("%s %s: answer is not a JSON object: %q", req.Method, req.URL.Path, raw)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			a.t.Fatalf("%s %s: Content-Type %q", req.Method, req.URL.Path, ct)
		}
	}
	if r.status >= 400 {
		e, ok := r.body["error"].(map[string]any)
		if !ok || e["code"] == "" || e["message"] == "" || len(e) != 2 {
			a.t.Fatalf("%s %s: %d without the error envelope: %s", req.Method, req.URL.Path, r.status, raw)
		}
	}
	return r
}

// expect checks status and, for errors, the envelope's code.
func (a *api) expect(r reply, status int, code string) reply {
	a.t.Helper()
	if r.status != status || r.code() != code {
		a.t.Fatalf("got %d %q, want %d %q: %s", r.status, r.code(), status, code, r.raw)
	}
	return r
}

func (a *api) admin(method, path string, body any) reply {
	a.t.Helper()
	return a.call(method, path, adminToken, body)
}

// tenant creates a tenant and returns its id.
func (a *api) tenant(slug string) string {
	a.t.Helper()
	return a.expect(a.admin("POST", "/v1/tenants", map[string]any{"name": "Tenant " + slug, "slug": slug}), 201, "").str("id")
}

// license creates a license and returns its id and key.
func (a *api) license(tenantID string, fields map[string]any) (string, string) {
	a.t.Helper()
	body := map[string]any{"product": "coditect", "seats": 2}
	for k, v := range fields {
		body[k] = v
	}
	r := a.expect(a.admin("POST", "/v1/tenants/"+tenantID+"/licenses", body), 201, "")
	return r.str("id"), r.str("key")
}

func (a *api) acquire(key, fingerprint string) reply {
	a.t.Helper()
	return a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": fingerprint})
}

func (a *api) heartbeat(sessionID string) reply {
	a.t.Helper()
	return a.call("POST", "/v1/heartbeat", "", map[string]any{"session_id": sessionID})
}

func (a *api) release(sessionID string) reply {
	a.t.Helper()
	return a.call("POST", "/v1/release", "", map[string]any{"session_id": sessionID})
}

func mustRequest(t *testing.T, method, url, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return req
}
