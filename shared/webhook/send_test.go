package webhook_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/webhook"
)

func message(id string) webhook.Message {
	return webhook.Message{ID: id, Timestamp: time.Now(), Body: []byte(`{"type":"seat.released","data":{"seat":"s_1"}}`)}
}

// TestSendVerified delivers to receivers that check every request with
// the Standard Webhooks library, as customers' receivers do.
func TestSendVerified(t *testing.T) {
	t.Parallel()
	current, previous, stranger := newSecret(t), newSecret(t), newSecret(t)

	type seen struct {
		method, contentType, userAgent, id string
		body                               []byte
		current, previous, stranger        error
	}
	var (
		mu       sync.Mutex
		requests []seen
	)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s := seen{
			method: r.Method, contentType: r.Header.Get("Content-Type"), userAgent: r.UserAgent(),
			id: r.Header.Get("webhook-id"), body: body,
			current:  verify(current, body, r.Header),
			previous: verify(previous, body, r.Header),
			stranger: verify(stranger, body, r.Header),
		}
		mu.Lock()
		requests = append(requests, s)
		mu.Unlock()
		if s.current != nil && s.previous != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	sender := newSender(t, outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 0, nil)

	m := message("evt_verified")
	// An event three days old, redelivered: the attempt is signed at its
	// own time, or the receiver's five-minute tolerance would refuse it.
	m.Timestamp = time.Now().Add(-72 * time.Hour)
	during := sender.Send(t.Context(), srv.URL+"/hooks?tenant=7", m, current, previous) // during a rotation
	after := sender.Send(t.Context(), srv.URL+"/hooks?tenant=7", m, current)            // after it
	for name, r := range map[string]webhook.Result{"during the rotation": during, "after it": after} {
		if r.Outcome != webhook.Delivered || r.StatusCode != http.StatusNoContent || r.Error != "" {
			t.Errorf("%s: %+v, want delivered with 204", name, r)
		}
		if r.Latency <= 0 {
			t.Errorf("%s: latency %s", name, r.Latency)
		}
	}

	if len(requests) != 2 {
		t.Fatalf("the receiver got %d requests, want 2", len(requests))
	}
	for i, s := range requests {
		if s.method != http.MethodPost || s.contentType != "application/json" || s.userAgent != "coditect-license-webhooks/1" {
			t.Errorf("request %d: %s, Content-Type %q, User-Agent %q", i, s.method, s.contentType, s.userAgent)
		}
		if s.id != m.ID || string(s.body) != string(m.Body) {
			t.Errorf("request %d: id %q, body %s; want %q, %s", i, s.id, s.body, m.ID, m.Body)
		}
		if s.current != nil {
			t.Errorf("request %d: the current secret does not verify: %v", i, s.current)
		}
		if s.stranger == nil {
			t.Errorf("request %d: a wrong secret verifies", i)
		}
	}
	if requests[0].previous != nil {
		t.Errorf("during the rotation, the previous secret alone does not verify: %v", requests[0].previous)
	}
	if requests[1].previous == nil {
		t.Error("after the rotation, the previous secret still verifies")
	}
}

// TestSendStampsWithItsClock: the signed timestamp is the Sender's clock,
// so a receiver's tolerance judges the attempt, not the event.
func TestSendStampsWithItsClock(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	stamps := make(chan string, 1)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		stamps <- r.Header.Get("webhook-timestamp")
		body, _ := io.ReadAll(r.Body)
		if err := verify(secret, body, r.Header); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
	slow := time.Now().Add(-time.Hour) // a clock an hour behind
	sender := newSender(t, outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 0, func() time.Time { return slow })
	r := sender.Send(t.Context(), srv.URL, message("evt_clock"), secret)
	if got, want := <-stamps, fmt.Sprint(slow.Unix()); got != want {
		t.Errorf("webhook-timestamp %s, want the clock's %s", got, want)
	}
	if r.Outcome != webhook.Failed || r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.Snippet, "too old") {
		t.Errorf("%+v: want the receiver to refuse an hour-old timestamp", r)
	}
}

func TestSendOutcomes(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	// A clock on a whole second, so an HTTP date converts exactly.
	now := time.Now().Truncate(time.Second)
	clock := func() time.Time { return now }

	target := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {}) // where a redirect points
	t.Cleanup(func() {
		if n := target.hits.Load(); n != 0 {
			t.Errorf("a redirect was followed: its target got %d requests", n)
		}
	})

	cases := []struct {
		name       string
		status     int
		header     map[string]string
		outcome    webhook.Outcome
		retryAfter time.Duration
	}{
		{"200", 200, nil, webhook.Delivered, 0},
		{"201", 201, nil, webhook.Delivered, 0},
		{"204", 204, nil, webhook.Delivered, 0},
		{"500", 500, nil, webhook.Retry, 0},
		{"502", 502, nil, webhook.Retry, 0},
		{"503", 503, nil, webhook.Retry, 0},
		{"504", 504, nil, webhook.Retry, 0},
		{"429 without Retry-After", 429, nil, webhook.Retry, 0},
		{"429 Retry-After seconds", 429, map[string]string{"Retry-After": "120"}, webhook.Retry, 120 * time.Second},
		{"503 Retry-After seconds", 503, map[string]string{"Retry-After": " 7 "}, webhook.Retry, 7 * time.Second},
		{"429 Retry-After HTTP date", 429, map[string]string{"Retry-After": now.Add(90 * time.Second).UTC().Format(http.TimeFormat)}, webhook.Retry, 90 * time.Second},
		{"503 Retry-After HTTP date", 503, map[string]string{"Retry-After": now.Add(time.Hour).UTC().Format(http.TimeFormat)}, webhook.Retry, time.Hour},
		{"429 Retry-After in the past", 429, map[string]string{"Retry-After": now.Add(-time.Hour).UTC().Format(http.TimeFormat)}, webhook.Retry, 0},
		{"429 Retry-After invalid", 429, map[string]string{"Retry-After": "soon"}, webhook.Retry, 0},
		{"429 Retry-After negative", 429, map[string]string{"Retry-After": "-5"}, webhook.Retry, 0},
		{"429 Retry-After of a week", 429, map[string]string{"Retry-After": "604800"}, webhook.Retry, 24 * time.Hour},
		{"429 Retry-After beyond uint64", 429, map[string]string{"Retry-After": "99999999999999999999999"}, webhook.Retry, 24 * time.Hour},
		{"500 Retry-After ignored", 500, map[string]string{"Retry-After": "120"}, webhook.Retry, 0},
		{"400", 400, nil, webhook.Failed, 0},
		{"401", 401, nil, webhook.Failed, 0},
		{"404", 404, nil, webhook.Failed, 0},
		{"410", 410, nil, webhook.Failed, 0},
		{"413", 413, nil, webhook.Failed, 0},
		{"301 not followed", 301, map[string]string{"Location": target.URL + "/moved"}, webhook.Failed, 0},
		{"302 not followed", 302, map[string]string{"Location": target.URL + "/moved"}, webhook.Failed, 0},
		{"307 not followed", 307, map[string]string{"Location": target.URL + "/moved"}, webhook.Failed, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range c.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(c.status)
				if c.status != http.StatusNoContent {
					fmt.Fprintf(w, "answer %d", c.status)
				}
			})
			sender := newSender(t, outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 0, clock)
			r := sender.Send(t.Context(), srv.URL+"/hook", message("evt_"+fmt.Sprint(c.status)), secret)
			if r.StatusCode != c.status || r.Outcome != c.outcome || r.RetryAfter != c.retryAfter || r.Error != "" {
				t.Fatalf("%+v; want status %d, %s, Retry-After %s, no error", r, c.status, c.outcome, c.retryAfter)
			}
			if want := fmt.Sprintf("answer %d", c.status); c.status != http.StatusNoContent && r.Snippet != want {
				t.Errorf("snippet %q, want %q", r.Snippet, want)
			}
			if srv.hits.Load() != 1 {
				t.Errorf("the receiver got %d requests, want 1", srv.hits.Load())
			}
		})
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	sender := newSender(t, outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 200*time.Millisecond, nil)
	start := time.Now()
	r := sender.Send(t.Context(), srv.URL, message("evt_slow"), newSecret(t))
	if r.Outcome != webhook.Retry || r.StatusCode != 0 || r.Error != "timeout after 200ms" {
		t.Fatalf("%+v; want retry, no status, a timeout", r)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second || r.Latency < 200*time.Millisecond {
		t.Errorf("the attempt took %s (latency %s), want about 200ms", elapsed, r.Latency)
	}
	if srv.hits.Load() != 1 {
		t.Errorf("the receiver got %d requests", srv.hits.Load())
	}
}

func TestSendAborted(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	sender := newSender(t, outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 0, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel() // the worker shuts down mid-attempt
	}()
	r := sender.Send(ctx, srv.URL, message("evt_abort"), newSecret(t))
	if r.Outcome != webhook.Retry || r.StatusCode != 0 || r.Error != "aborted: context canceled" {
		t.Fatalf("%+v; want retry, aborted", r)
	}
}

func TestSendConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	sender := newSender(t, outbound.Policy{Allow: loopback}, 0, nil)
	r := sender.Send(t.Context(), "https://"+addr+"/hook", message("evt_closed"), newSecret(t))
	if r.Outcome != webhook.Retry || r.StatusCode != 0 || r.Error != "connection refused" {
		t.Fatalf("%+v; want retry, connection refused", r)
	}
}

func TestSendUntrustedCertificate(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	sender := newSender(t, outbound.Policy{Allow: loopback}, 0, nil) // the system's roots
	r := sender.Send(t.Context(), srv.URL, message("evt_tls"), newSecret(t))
	if r.Outcome != webhook.Retry || !strings.HasPrefix(r.Error, "TLS: ") || strings.Contains(r.Error, srv.URL) {
		t.Fatalf("%+v; want retry with a TLS error", r)
	}
	if srv.hits.Load() != 0 {
		t.Error("the handler ran without a trusted TLS connection")
	}
}

func TestSendUnknownHost(t *testing.T) {
	t.Parallel()
	dns := startDNS(t, nil)
	sender := newSender(t, outbound.Policy{Resolver: dns}, 0, nil)
	r := sender.Send(t.Context(), "https://gone.example.com/hook?token=s3cr3t", message("evt_dns"), newSecret(t))
	if r.Outcome != webhook.Retry || !strings.HasPrefix(r.Error, "DNS lookup of gone.example.com failed") {
		t.Fatalf("%+v; want retry with a DNS error", r)
	}
	if strings.Contains(r.Error, "127.0.0.1") || strings.Contains(r.Error, "s3cr3t") {
		t.Errorf("error %q names our DNS server or the URL's token", r.Error)
	}
}

// TestSendSSRF: addresses inside our network are refused before
// connecting, however the URL reaches them, and not retried.
func TestSendSSRF(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	dns := startDNS(t, map[string]string{
		"rebind.example.com":   "127.0.0.1",
		"metadata.example.com": "169.254.169.254",
		"private.example.com":  "10.1.2.3",
		"hooks.example.com":    "127.0.0.1",
	})
	port := srv.port()
	secret := newSecret(t)

	cases := []struct {
		name  string
		url   string
		allow bool
		want  string // in Error
	}{
		{"loopback literal", "https://127.0.0.1:" + port + "/hook", false, "refused: 127.0.0.1 (loopback"},
		{"name rebound to loopback", "https://rebind.example.com:" + port + "/hook", false, "refused: rebind.example.com resolves to 127.0.0.1 (loopback"},
		{"name rebound to the metadata server", "https://metadata.example.com:" + port + "/hook", false, "refused: metadata.example.com resolves to 169.254.169.254 (link-local, the cloud metadata server"},
		{"name rebound to a private address", "https://private.example.com:" + port + "/hook", false, "refused: private.example.com resolves to 10.1.2.3 (private"},
		{"metadata literal", "https://169.254.169.254/computeMetadata/v1/", false, "refused: 169.254.169.254"},
		{"IPv4-mapped loopback", "https://[::ffff:127.0.0.1]:" + port + "/hook", false, "refused: 127.0.0.1 (loopback"},
		{"http:// refused by the client", "http://127.0.0.1:" + port + "/hook", true, "invalid URL: the scheme is not allowed"},
		{"a scheme that is not HTTP", "ftp://hooks.example.com/hook", true, "invalid URL"},
		{"not a URL", "https://hooks.example.com:port/hook", true, "invalid URL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := outbound.Policy{Resolver: dns, RootCAs: srv.roots()}
			if c.allow {
				p.Allow = loopback
			}
			r := newSender(t, p, 0, nil).Send(t.Context(), c.url, message("evt_ssrf"), secret)
			if r.Outcome != webhook.Failed || r.StatusCode != 0 || !strings.HasPrefix(r.Error, c.want) {
				t.Fatalf("%+v; want failed with %q", r, c.want)
			}
		})
	}

	t.Run("allowed by the policy", func(t *testing.T) {
		t.Parallel()
		p := outbound.Policy{Resolver: dns, RootCAs: srv.roots(), Allow: loopback}
		sender := newSender(t, p, 0, nil)
		// The literal, and a name the fake DNS resolves (which proves the
		// refusals above are the dial guard's, not a failed lookup).
		for _, url := range []string{srv.URL + "/hook", "https://hooks.example.com:" + port + "/hook"} {
			if r := sender.Send(t.Context(), url, message("evt_allowed"), secret); r.Outcome != webhook.Delivered {
				t.Errorf("%s: %+v, want delivered", url, r)
			}
		}
	})

	// Parallel subtests end before the parent's cleanups run.
	t.Cleanup(func() {
		if n := srv.hits.Load(); n != 2 {
			t.Errorf("the server got %d requests, want 2 (only the allowed ones)", n)
		}
	})
}

func TestSendSnippet(t *testing.T) {
	t.Parallel()
	bodies := map[string]string{
		"/ascii":   strings.Repeat("x", 5*1024),
		"/short":   `{"error":"unknown event"}`,
		"/two":     "a" + strings.Repeat("é", 3000),  // 2-byte characters, cut in the middle of one
		"/three":   "ab" + strings.Repeat("€", 2000), // 3-byte, cut after two of its bytes
		"/four":    "a" + strings.Repeat("😀", 1500),  // 4-byte, cut after three bytes
		"/invalid": strings.Repeat("\xff\xfe", 1000), // not UTF-8 at all
		"/mixed":   "ok \xc3( " + strings.Repeat("z", 2000),
		"/empty":   "",
	}
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, bodies[r.URL.Path])
	})
	sender := newSender(t, outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 0, nil)
	secret := newSecret(t)
	cases := []struct {
		path string
		want string // the snippet exactly; "" to check only its shape
	}{
		{"/ascii", strings.Repeat("x", 1024)},
		{"/short", bodies["/short"]},
		{"/two", "a" + strings.Repeat("é", 511)},    // 1 + 1022 bytes: the 512th é is cut
		{"/three", "ab" + strings.Repeat("€", 340)}, // 2 + 1020 bytes
		{"/four", "a" + strings.Repeat("😀", 255)},   // 1 + 1020 bytes
		{"/invalid", strings.Repeat("\uFFFD", 341)}, // 3 bytes each, stopped before 1024
		{"/mixed", ""},
		{"/empty", ""},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			r := sender.Send(t.Context(), srv.URL+c.path, message("evt_snippet"), secret)
			if r.Outcome != webhook.Delivered {
				t.Fatalf("%+v", r)
			}
			if len(r.Snippet) > 1024 || !utf8.ValidString(r.Snippet) {
				t.Fatalf("snippet of %d bytes, valid UTF-8 %v", len(r.Snippet), utf8.ValidString(r.Snippet))
			}
			if c.want != "" && r.Snippet != c.want {
				t.Fatalf("snippet %q (%d bytes), want %d bytes", r.Snippet, len(r.Snippet), len(c.want))
			}
			if c.path == "/mixed" && !strings.HasPrefix(r.Snippet, "ok \uFFFD( zzz") {
				t.Fatalf("snippet %q, want the invalid byte replaced", r.Snippet[:20])
			}
		})
	}
}

func TestSendRefusesBadSecret(t *testing.T) {
	t.Parallel()
	srv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	sender := newSender(t, outbound.Policy{Allow: loopback, RootCAs: srv.roots()}, 0, nil)
	for _, secrets := range [][]string{nil, {"not-a-secret"}, {"whsec_***"}} {
		r := sender.Send(t.Context(), srv.URL, message("evt_1"), secrets...)
		if r.Outcome != webhook.Failed || !strings.HasPrefix(r.Error, "cannot sign: ") {
			t.Errorf("secrets %q: %+v, want failed, cannot sign", secrets, r)
		}
	}
	r := sender.Send(t.Context(), srv.URL, message("evt 1"), newSecret(t))
	if r.Outcome != webhook.Failed || !strings.HasPrefix(r.Error, "cannot sign: ") {
		t.Errorf("an id with a space: %+v, want failed", r)
	}
	if srv.hits.Load() != 0 {
		t.Errorf("the receiver got %d unsigned requests", srv.hits.Load())
	}
}

func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	if webhook.AttemptTimeout != 10*time.Second {
		t.Errorf("AttemptTimeout = %s, want 10s", webhook.AttemptTimeout)
	}
	// outbound's policy cannot set the timeout: its clients carry
	// outbound.Timeout, which must be ours.
	if c := outbound.NewClient(outbound.Policy{Allow: loopback}); c.Timeout != webhook.AttemptTimeout {
		t.Errorf("outbound.NewClient's timeout is %s, want AttemptTimeout %s", c.Timeout, webhook.AttemptTimeout)
	}
}

func TestNewSender(t *testing.T) {
	t.Parallel()
	good := outbound.NewClient(outbound.Policy{})
	if _, err := webhook.NewSender(good, time.Now); err != nil {
		t.Fatalf("outbound's client refused: %v", err)
	}
	slower := outbound.NewClient(outbound.Policy{})
	slower.Timeout = time.Minute
	following := outbound.NewClient(outbound.Policy{})
	following.CheckRedirect = nil
	cases := []struct {
		name   string
		client *http.Client
		now    func() time.Time
	}{
		{"no client", nil, time.Now},
		{"no clock", good, nil},
		{"the default client (no timeout, follows redirects)", http.DefaultClient, time.Now},
		{"a timeout above AttemptTimeout", slower, time.Now},
		{"redirects followed", following, time.Now},
		{"redirects followed by a function", &http.Client{Timeout: time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}, time.Now},
	}
	for _, c := range cases {
		if s, err := webhook.NewSender(c.client, c.now); err == nil {
			t.Errorf("%s: NewSender = %v, want an error", c.name, s)
		}
	}
}

func TestOutcomeString(t *testing.T) {
	t.Parallel()
	for o, want := range map[webhook.Outcome]string{
		webhook.Delivered: "delivered", webhook.Retry: "retry", webhook.Failed: "failed", 0: "Outcome(0)",
	} {
		if got := o.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(o), got, want)
		}
	}
}
