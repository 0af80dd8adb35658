package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// StripeMockVersion is the stripe-mock the tests run as the Stripe API: a
// Go module, built from the module proxy on first use (the build cache
// keeps it for the next).
const StripeMockVersion = "v0.203.0"

// stripeMockBin is built once per test binary, into a path of this
// version shared by every test binary and run (the first build installs it
// under a temporary name and renames it into place, so a concurrent build
// never sees half a file), and reused while it is there.
var stripeMockBin = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(os.TempDir(), "license-server-stripe-mock-"+StripeMockVersion)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o100 != 0 {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "stripe-mock-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "install", "github.com/stripe/stripe-mock@"+StripeMockVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install github.com/stripe/stripe-mock@%s: %v\n%s", StripeMockVersion, err, out)
	}
	if err := os.Rename(filepath.Join(dir, "stripe-mock"), bin); err != nil {
		return "", fmt.Errorf("placing stripe-mock: %w", err)
	}
	return bin, nil
})

// StripeRequest is one call a test's code made to the Stripe API.
type StripeRequest struct {
	Method, Path string
	// Form is the request's form body (Stripe's API takes form-encoded
	// bodies), parsed.
	Form url.Values
	// IdempotencyKey is the Idempotency-Key header stripe-go sent.
	IdempotencyKey string
}

// StripeMock is a running stripe-mock behind a recording proxy: URL is
// where the code under test sends its Stripe calls, Requests what it sent.
// stripe-mock answers every call with a fixture after validating it against
// Stripe's OpenAPI document (a malformed call is a 400), and keeps no state.
type StripeMock struct {
	URL string

	mu       sync.Mutex
	requests []StripeRequest
}

// Requests returns the calls made so far, in order.
func (m *StripeMock) Requests() []StripeRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]StripeRequest(nil), m.requests...)
}

// Calls returns the calls made so far to method and path.
func (m *StripeMock) Calls(method, path string) []StripeRequest {
	var out []StripeRequest
	for _, r := range m.Requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// NewStripeMock starts a private stripe-mock on a free port, and the
// recording proxy in front of it; both stop when the test ends. It fails
// the test, saying why, when stripe-mock cannot be built or started.
func NewStripeMock(t testing.TB) *StripeMock {
	t.Helper()
	bin, err := stripeMockBin()
	if err != nil {
		t.Fatalf("stripe-mock is the Stripe API in tests, and it could not be built: %v", err)
	}
	port := clusterPort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var logs bytes.Buffer
	// stripe-mock also serves HTTPS, on a fixed port unless told another:
	// the pair's second port (clusterPort checked both are free).
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:"+strconv.Itoa(port+10000))
	cmd.Stdout, cmd.Stderr = &syncWriter{w: &logs}, &syncWriter{w: &logs}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/v1/customers/cus_ready")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock on %s did not answer within 30s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	target, _ := url.Parse("http://" + addr)
	m := &StripeMock{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if r.Method == http.MethodGet {
			form = r.URL.Query()
		}
		m.mu.Lock()
		m.requests = append(m.requests, StripeRequest{Method: r.Method, Path: r.URL.Path, Form: form,
			IdempotencyKey: r.Header.Get("Idempotency-Key")})
		m.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// StripeWebhookSecret is the webhook signing secret BillingEnv gives.
const StripeWebhookSecret = "whsec_testsuite"

// BillingEnv is the billing settings as a process's environment: what the
// production entry point needs to serve Billing or BillingSchedule (or
// every function at once). apiURL is where Stripe calls go ("" for an
// address nothing listens on: a test that makes no Stripe call).
func BillingEnv(apiURL string) []string {
	if apiURL == "" {
		apiURL = "http://127.0.0.1:9"
	}
	return []string{"STRIPE_API_KEY=sk_test_suite", "STRIPE_WEBHOOK_SECRET=" + StripeWebhookSecret, "STRIPE_API_URL=" + apiURL}
}
