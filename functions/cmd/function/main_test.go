package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	billingapp "github.com/coditect-ai/license-server/shared/billing"
	bt "github.com/coditect-ai/license-server/shared/billing/billingtest"
	"github.com/coditect-ai/license-server/shared/rootkey/kmsfake"
	"github.com/coditect-ai/license-server/shared/testenv"
)

const token = "entry-point-admin-token-0123456789abcdef"

// started is one running production process serving one function.
type started struct {
	url    string
	stderr *testenv.LogBuffer
}

func start(t *testing.T, bin, target string, env []string) started {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append(env, "PORT="+port, "FUNCTION_TARGET="+target)...)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "BOOTSTRAP_ADMIN_TOKEN="); ok {
			testenv.NoteSecret(t, v)
		}
	}
	logs := &testenv.LogBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the process is gone; waitErr is then set.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	url := "http://127.0.0.1:" + port
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("%s exited: %v\n%s", target, waitErr, logs.String())
		default:
		}
		if target == "Cleanup" {
			// A CloudEvent function has no /health/: Knative probes its port.
			if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				c.Close()
				return started{url: url, stderr: logs}
			}
		} else if resp, err := http.Get(url + "/health/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return started{url: url, stderr: logs}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become live:\n%s", target, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func call(t *testing.T, method, url string, body any) (int, map[string]any) {
	t.Helper()
	return callAs(t, method, url, token, body)
}

// TestEachFunctionServedAlone runs the production binary once per function
// with FUNCTION_TARGET, as each Knative service does, and drives the whole
// flow through them: each answers its own paths, and only its own.
func TestEachFunctionServedAlone(t *testing.T) {
	bin := testenv.BuildMain(t, "function")
	_, prefix := testenv.Redis(t)
	der, err := x509.MarshalPKCS8PrivateKey(kmsfake.Key(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"REDIS_URL=" + testenv.RedisURL(), "REDIS_KEY_PREFIX=" + prefix,
		"DATABASE_URL=" + testenv.PostgresURL(t), "BOOTSTRAP_ADMIN_TOKEN=" + token,
		"SIGNING_LOCAL_KEY_PEM=" + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
	}
	notifyEnv := testenv.NotifyEnv(t)
	served := map[string]bool{}
	// notMine is a path of another function: served alone, a function must
	// not answer it.
	notMine := func(s started, path string) {
		t.Helper()
		if status, body := call(t, "POST", s.url+path, map[string]any{}); status != 404 {
			t.Fatalf("%s answered %d %v", path, status, body)
		}
	}

	s := start(t, bin, "Tenants", env)
	served["Tenants"] = true
	status, tenant := call(t, "POST", s.url+"/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"})
	if status != 201 {
		t.Fatalf("create tenant: %d %v", status, tenant)
	}
	notMine(s, "/v1/acquire")

	s = start(t, bin, "Licenses", env)
	served["Licenses"] = true
	status, lic := call(t, "POST", s.url+"/v1/tenants/"+tenant["id"].(string)+"/licenses", map[string]any{"product": "coditect", "seats": 1})
	if status != 201 {
		t.Fatalf("create license: %d %v", status, lic)
	}
	notMine(s, "/v1/tenants")

	s = start(t, bin, "Acquire", env)
	served["Acquire"] = true
	status, grant := call(t, "POST", s.url+"/v1/acquire", map[string]any{"license_key": lic["key"], "fingerprint": "ws"})
	if status != 200 {
		t.Fatalf("acquire: %d %v", status, grant)
	}
	if status, body := call(t, "POST", s.url+"/v1/acquire", map[string]any{"license_key": lic["key"], "fingerprint": "ws-2"}); status != 409 {
		t.Fatalf("second acquire: %d %v", status, body)
	}
	notMine(s, "/v1/heartbeat")
	// Log lines are written in batches (logging.Buffered): give them a moment.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.stderr.String(), `"function":"Acquire"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no request log line:\n%s", s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// An HTTP function answers GET /metrics on its own port.
	scrapeHas(t, s.url+"/metrics", `license_acquire_outcomes_total{outcome="granted"} 1`,
		`license_acquire_outcomes_total{outcome="denied",reason="no_seats_available"} 1`,
		`license_http_server_requests_total{code="200",function="Acquire",method="POST",route="/v1/acquire"} 1`)

	s = start(t, bin, "Heartbeat", env)
	served["Heartbeat"] = true
	if status, body := call(t, "POST", s.url+"/v1/heartbeat", map[string]any{"session_id": grant["session_id"]}); status != 200 {
		t.Fatalf("heartbeat: %d %v", status, body)
	}
	notMine(s, "/v1/release")

	s = start(t, bin, "Release", env)
	served["Release"] = true
	if status, body := call(t, "POST", s.url+"/v1/release", map[string]any{"session_id": grant["session_id"]}); status != 200 || body["released"] != true {
		t.Fatalf("release: %d %v", status, body)
	}
	notMine(s, "/v1/acquire")

	// The tenant-scoped resource functions, one call each.
	for _, step := range []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"APIKeys", "POST", "/api-keys", map[string]any{"name": "ci", "role": "member"}, 201},
		{"Workstations", "GET", "/workstations", nil, 200},
		{"Repositories", "POST", "/repositories", map[string]any{"name": "w", "remote_url": "git@github.com:acme/w.git"}, 201},
		{"Audit", "GET", "/audit", nil, 200},
		{"Members", "POST", "/members", map[string]any{"email": "ada@example.com", "role": "admin"}, 201},
	} {
		s = start(t, bin, step.name, env)
		served[step.name] = true
		if status, body := call(t, step.method, s.url+"/v1/tenants/"+tenant["id"].(string)+step.path, step.body); status != step.want {
			t.Fatalf("%s %s: %d %v", step.method, step.path, status, body)
		}
		notMine(s, "/v1/acquire")
	}

	// Notifications, with its keys: an endpoint registered (the secret
	// sealed with NOTIFY_SECRETS_KEY, which Notify opens below).
	s = start(t, bin, "Notifications", append(slices.Clip(env), notifyEnv...))
	served["Notifications"] = true
	if status, body := call(t, "POST", s.url+"/v1/tenants/"+tenant["id"].(string)+"/webhooks",
		map[string]any{"url": "https://hooks.example.com/in"}); status != 201 || body["secret"] == nil {
		t.Fatalf("create webhook: %d %v", status, body)
	}
	notMine(s, "/v1/acquire")

	// Notify, with only what its deployment gets (the backends and its
	// keys; no admin token, no signing key), on a Pub/Sub message: it hands
	// on the events the calls above appended, and mails to its log.
	metricsPort := freePort(t)
	s = start(t, bin, "Notify", append(slices.Concat(env[:3], notifyEnv), "METRICS_PORT="+metricsPort))
	served["Notify"] = true
	if status := postEvent(t, s.url, pubsubHeaders, pubsubBody); status/100 != 2 {
		t.Fatalf("notify event: %d\n%s", status, s.stderr.String())
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.stderr.String(), `"message":"notify run"`) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if logs := s.stderr.String(); !strings.Contains(logs, `"message":"notify run"`) || !strings.Contains(logs, `"queued":`) {
		t.Fatalf("notify did not hand the events on:\n%s", logs)
	}
	scrapeHas(t, "http://127.0.0.1:"+metricsPort+"/metrics", `license_notify_events_total{type="license.created"} 1`)

	s = start(t, bin, "Keys", env)
	served["Keys"] = true
	// The root public keys alone: Keys signs nothing, so lists no delegation.
	if status, body := call(t, "GET", s.url+"/v1/keys", nil); status != 200 || len(body) != 1 || len(body["keys"].([]any)) != 1 {
		t.Fatalf("keys: %d %v", status, body)
	}
	notMine(s, "/v1/acquire")

	s = start(t, bin, "OpenAPI", env)
	served["OpenAPI"] = true
	if status, body := call(t, "GET", s.url+"/v1/openapi.json", nil); status != 200 || body["openapi"] != "3.1.0" {
		t.Fatalf("openapi: %d %v", status, body["openapi"])
	}
	notMine(s, "/v1/acquire")

	s = start(t, bin, "Console", env)
	served["Console"] = true
	if status, body := call(t, "GET", s.url+"/console/config.json", nil); status != 200 || body["token_sign_in"] != true {
		t.Fatalf("console settings: %d %v", status, body)
	}
	notMine(s, "/v1/acquire")

	// Cleanup, with only what its deployment gets (no admin token, no
	// signing key), triggered the two ways production and Knative do.
	// Its CloudEvent handler owns every path of PORT, so its metrics are
	// on METRICS_PORT.
	metricsPort = freePort(t)
	s = start(t, bin, "Cleanup", append(slices.Clip(env[:3]), "METRICS_PORT="+metricsPort))
	served["Cleanup"] = true
	for _, ev := range []struct{ kind, headers, body string }{
		{"pubsub", pubsubHeaders, pubsubBody},
		{"ping", pingHeaders, `{"message":"sweep"}`},
	} {
		if status := postEvent(t, s.url, ev.headers, ev.body); status/100 != 2 {
			t.Fatalf("%s event: %d\n%s", ev.kind, status, s.stderr.String())
		}
	}
	ran := func(logs string) bool {
		return strings.Contains(logs, `"type":"`+"google.cloud.pubsub.topic.v1.messagePublished") &&
			strings.Contains(logs, `"type":"dev.knative.sources.ping"`) && strings.Contains(logs, `"drained":3`)
	}
	// The process's output reaches the buffer through a pipe, possibly
	// after the answer that followed it: give the copy a moment.
	for deadline := time.Now().Add(5 * time.Second); !ran(s.stderr.String()) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if logs := s.stderr.String(); !ran(logs) {
		t.Fatalf("cleanup did not run on both events, draining acquired, denied and released:\n%s", logs)
	}
	scrapeHas(t, "http://127.0.0.1:"+metricsPort+"/metrics", `license_cleanup_runs_total{result="ok"} 2`,
		`license_cleanup_drained_entries_total 3`)
	// It owns its server, so PORT also answers liveness and metrics; any
	// other request must carry a CloudEvent, as functions-framework's
	// contract has it (only make run's /internal/cleanup runs on a plain
	// POST).
	scrapeHas(t, s.url+"/metrics", `license_cleanup_runs_total{result="ok"} 2`)
	if status, body := call(t, "GET", s.url+"/health/", nil); status != 200 || body["status"] != "ok" {
		t.Fatalf("cleanup liveness: %d %v", status, body)
	}
	if status, body := call(t, "POST", s.url+"/", map[string]any{}); status != 400 {
		t.Fatalf("a POST with no CloudEvent: %d %v, want 400", status, body)
	}

	s = start(t, bin, "Usage", env)
	served["Usage"] = true
	day := time.Now().UTC().Truncate(24 * time.Hour)
	status, report := call(t, "GET", s.url+"/v1/tenants/"+tenant["id"].(string)+"/usage?from="+
		day.Format(time.RFC3339)+"&to="+day.Add(48*time.Hour).Format(time.RFC3339), nil)
	buckets, _ := report["buckets"].([]any)
	if status != 200 || len(buckets) != 1 || buckets[0].(map[string]any)["peak_seats"] != 1.0 ||
		buckets[0].(map[string]any)["denials"] != 1.0 {
		t.Fatalf("usage: %d %v", status, report)
	}
	notMine(s, "/v1/acquire")

	// Billing, with what its deployment gets: a Stripe-signed webhook
	// makes a tenant and its license; an unsigned one is refused.
	s = start(t, bin, "Billing", slices.Concat(env, testenv.BillingEnv("")))
	served["Billing"] = true
	item := bt.Item{ID: "si_alone", PriceID: "price_alone", Metadata: map[string]string{"product": "cad"}, Quantity: 2,
		PeriodStart: time.Now(), PeriodEnd: time.Now().AddDate(0, 1, 0)}
	payload := bt.Event("evt_alone", billingapp.EventSubscriptionCreated, time.Now(), bt.Subscription("sub_alone", "cus_alone", "active", false, item))
	if status, body := postSigned(t, s.url+"/v1/billing/stripe/webhook", payload, bt.Sign(payload, testenv.StripeWebhookSecret, time.Now())); status != 200 {
		t.Fatalf("signed webhook: %d %s", status, body)
	}
	if status, body := postSigned(t, s.url+"/v1/billing/stripe/webhook", payload, bt.Sign(payload, "whsec_other", time.Now())); status != 400 {
		t.Fatalf("webhook signed with another secret: %d %s", status, body)
	}
	notMine(s, "/v1/acquire")

	s = start(t, bin, "BillingSchedule", append(slices.Concat(env[:3], testenv.BillingEnv("")), "LOG_LEVEL=info"))
	served["BillingSchedule"] = true
	if status := postEvent(t, s.url, pingHeaders, `{"message":"bill"}`); status/100 != 2 {
		t.Fatalf("billing schedule event: %d\n%s", status, s.stderr.String())
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(s.stderr.String(), "billing schedule run") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if logs := s.stderr.String(); !strings.Contains(logs, "billing schedule run") {
		t.Fatalf("the billing schedule did not run:\n%s", logs)
	}

	s = start(t, bin, "Health", env)
	served["Health"] = true
	if status, body := call(t, "GET", s.url+"/ready", nil); status != 200 || body["status"] != "ready" {
		t.Fatalf("ready: %d %v", status, body)
	}
	notMine(s, "/v1/acquire")

	for _, name := range compose.Names() {
		if !served[name] {
			t.Errorf("function %s was not run alone", name)
		}
	}
}

// The two triggers' requests, as they arrive: Eventarc delivers a Pub/Sub
// message in binary mode (attributes in ce- headers, the Pub/Sub envelope
// as the data), Knative's PingSource its JSON data in binary mode.
const (
	pubsubHeaders = "Ce-Specversion: 1.0\nCe-Type: google.cloud.pubsub.topic.v1.messagePublished\n" +
		"Ce-Source: //pubsub.googleapis.com/projects/coditect-prod/topics/license-cleanup\n" +
		"Ce-Id: 1215011316659232\nCe-Time: 2026-11-25T10:00:00.000Z\nContent-Type: application/json"
	pubsubBody = `{"message":{"data":"eyJ0YXNrIjoiY2xlYW51cCJ9","messageId":"1215011316659232",` +
		`"publishTime":"2026-11-25T10:00:00.000Z","attributes":{}},` +
		`"subscription":"projects/coditect-prod/subscriptions/eventarc-europe-west1-license-cleanup-sub-123"}`
	pingHeaders = "Ce-Specversion: 1.0\nCe-Type: dev.knative.sources.ping\n" +
		"Ce-Source: /apis/v1/namespaces/license-server/pingsources/cleanup\n" +
		"Ce-Id: 5b1c5b43-4b8e-4a70-9f3f-1cd7a9e5b0c2\nCe-Time: 2026-11-25T10:01:00Z\nContent-Type: application/json"
)

// postEvent sends a CloudEvent in binary mode.
func postEvent(t *testing.T, url, headers, body string) int {
	t.Helper()
	status, err := sendEvent(url, headers, body)
	if err != nil {
		t.Fatal(err)
	}
	return status
}

// sendEvent is postEvent for goroutines, which must not call t.Fatal.
func sendEvent(url, headers, body string) (int, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	for _, h := range strings.Split(headers, "\n") {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestStartUpRefusesHalfConfiguration(t *testing.T) {
	bin := testenv.BuildMain(t, "function")
	cases := map[string]struct {
		env  []string
		want string
	}{
		"nothing set": {nil, "REDIS_URL is required"},
		"no signing key": {[]string{"REDIS_URL=redis://127.0.0.1:6379", "DATABASE_URL=postgres://x", "BOOTSTRAP_ADMIN_TOKEN=" + token},
			"SIGNING_KMS_KEY_VERSION (or SIGNING_LOCAL_KEY_PEM) is required"},
		"missing secret": {[]string{"BOOTSTRAP_ADMIN_TOKEN=secret://projects/p/secrets/s/versions/1",
			"GOOGLE_APPLICATION_CREDENTIALS=/nonexistent"}, "Secret Manager"},
		"unknown target": {[]string{"REDIS_URL=redis://127.0.0.1:6379", "DATABASE_URL=postgres://x", "BOOTSTRAP_ADMIN_TOKEN=" + token,
			"SIGNING_LOCAL_KEY_PEM=x", "FUNCTION_TARGET=Nope"}, `FUNCTION_TARGET \"Nope\" is not one of`},
		"short token": {[]string{"BOOTSTRAP_ADMIN_TOKEN=short"}, "BOOTSTRAP_ADMIN_TOKEN must be at least 32 characters"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin)
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("started without %s", name)
			}
			if !strings.Contains(string(out), c.want) || !strings.Contains(string(out), `"severity":"ERROR"`) {
				t.Fatalf("output %q does not say %q", out, c.want)
			}
		})
	}
}

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// scrapeHas checks a /metrics answer holds every line wanted.
func scrapeHas(t *testing.T, url string, want ...string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, w := range want {
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), w) {
			t.Errorf("GET %s = %d, lacks %s:\n%s", url, resp.StatusCode, w, body)
		}
	}
}

// postSigned posts a webhook delivery with its Stripe-Signature and
// returns the status and body.
func postSigned(t *testing.T, url string, payload []byte, signature string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signature)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}
