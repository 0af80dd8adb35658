package cleanup_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/cleanup"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// server serves the function the way the local server mounts it at
// POST /internal/cleanup, on a backend with one expired session waiting.
func server(t *testing.T, b *backend.Backend) (*httptest.Server, *testenv.LogBuffer) {
	t.Helper()
	logs := &testenv.LogBuffer{}
	fn, err := cleanup.New(b.Cleaner, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(route.CloudEvents(fn.Handle, cleanup.TypeManual))
	t.Cleanup(srv.Close)
	return srv, logs
}

// expiredSession leaves one session to expire on a fresh license.
func expiredSession(t *testing.T, b *backend.Backend) {
	t.Helper()
	ctx := context.Background()
	ten, err := b.Tenants.Create(ctx, "Acme", "acme-"+time.Now().Format("150405.000000000")[7:], nil)
	if err != nil {
		t.Fatal(err)
	}
	l, key, err := b.Licenses.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: 1, LeaseTTLSeconds: 1, Leasing: "per_fingerprint"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Seats.Acquire(ctx, seats.AcquireRequest{LicenseID: l.ID, LicenseKey: key, Fingerprint: "ws"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
}

func post(t *testing.T, url string, headers map[string]string, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestTriggersRunTheSweep(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		headers map[string]string
		body    string
	}{
		// Eventarc: binary mode, the Pub/Sub envelope as data.
		"pubsub binary": {map[string]string{
			"Ce-Specversion": "1.0", "Ce-Type": cleanup.TypePubSub, "Ce-Id": "1215011316659232",
			"Ce-Source":    "//pubsub.googleapis.com/projects/coditect-prod/topics/license-cleanup",
			"Ce-Time":      "2026-11-25T10:00:00.000Z",
			"Content-Type": "application/json",
		}, `{"message":{"data":"e30=","messageId":"1215011316659232","publishTime":"2026-11-25T10:00:00.000Z"},` +
			`"subscription":"projects/coditect-prod/subscriptions/eventarc-sub"}`},
		// PingSource may also be configured to send structured mode.
		"ping structured": {map[string]string{"Content-Type": "application/cloudevents+json"},
			`{"specversion":"1.0","type":"dev.knative.sources.ping","id":"7a1e","time":"2026-11-25T10:01:00Z",` +
				`"source":"/apis/v1/namespaces/license-server/pingsources/cleanup","datacontenttype":"application/json",` +
				`"data":{"message":"sweep"}}`},
		// make run's POST /internal/cleanup by hand.
		"plain post": {nil, ""},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, _ := testenv.Backend(t)
			expiredSession(t, b)
			srv, logs := server(t, b)
			if status := post(t, srv.URL, c.headers, c.body); status/100 != 2 {
				t.Fatalf("status %d\n%s", status, logs)
			}
			if !strings.Contains(logs.String(), `"expired":1`) {
				t.Fatalf("the run did not sweep the expired session:\n%s", logs)
			}
		})
	}
}

func TestUnknownEventIsAcknowledgedNotRun(t *testing.T) {
	t.Parallel()
	b, _ := testenv.Backend(t)
	srv, logs := server(t, b)
	status := post(t, srv.URL, map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "com.example.other",
		"Ce-Id": "1", "Ce-Source": "/x", "Content-Type": "application/json"}, `{}`)
	if status/100 != 2 {
		t.Fatalf("an event of another type got %d; the trigger would redeliver it forever", status)
	}
	if strings.Contains(logs.String(), "cleanup run") || !strings.Contains(logs.String(), "ignoring event of unknown type") {
		t.Fatalf("logs:\n%s", logs)
	}
	if status := post(t, srv.URL, map[string]string{"Content-Type": "application/cloudevents+json"}, `{not json`); status/100 != 4 {
		t.Fatalf("a malformed event got %d, want 4xx", status)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET got %d", resp.StatusCode)
	}
}

func TestRedisDownAsksForARetry(t *testing.T) {
	t.Parallel()
	b, prefix := testenv.Backend(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	broken, err := backend.New(dead, b.DB, prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broken.Sightings.Close)
	srv, logs := server(t, broken)
	for name, headers := range map[string]map[string]string{
		"plain": nil,
		"pubsub": {"Ce-Specversion": "1.0", "Ce-Type": cleanup.TypePubSub, "Ce-Id": "1", "Ce-Source": "//pubsub",
			"Content-Type": "application/json"},
	} {
		if status := post(t, srv.URL, headers, `{}`); status/100 != 5 {
			t.Errorf("%s: Redis down got %d, want a 5xx so the trigger retries", name, status)
		}
	}
	if !strings.Contains(logs.String(), "cleanup run failed") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// TestRunRevokesWhatTheWriteThroughMissed: a tenant suspended and a license
// suspended in PostgreSQL while Redis could not take the write-through (the
// admin got a 503 and never retried) stay grantable in Redis until the next
// scheduled run; one Pub/Sub event later, acquires of both are refused.
func TestRunRevokesWhatTheWriteThroughMissed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, prefix := testenv.Backend(t)
	srv, logs := server(t, b)
	event := map[string]string{"Ce-Specversion": "1.0", "Ce-Type": cleanup.TypePubSub, "Ce-Id": "1",
		"Ce-Source": "//pubsub.googleapis.com/projects/p/topics/license-cleanup", "Content-Type": "application/json"}
	run := func() {
		t.Helper()
		if status := post(t, srv.URL, event, `{"message":{"data":"e30="}}`); status/100 != 2 {
			t.Fatalf("cleanup event: status %d\n%s", status, logs)
		}
	}

	// Two tenants with a license each, written through and in use.
	type lic struct{ tenant, id, key string }
	var all []lic
	for _, slug := range []string{"tenant-suspended", "license-suspended"} {
		ten, err := b.Tenants.Create(ctx, slug, slug, nil)
		if err != nil {
			t.Fatal(err)
		}
		l, key, err := b.Licenses.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: 10, LeaseTTLSeconds: 60,
			Leasing: licenses.PerFingerprint})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Licensing.SyncLicense(ctx, l); err != nil {
			t.Fatal(err)
		}
		all = append(all, lic{ten.ID, l.ID, key})
	}
	acquire := func(l lic, fp string) error {
		_, err := b.Seats.Acquire(ctx, seats.AcquireRequest{LicenseID: l.id, LicenseKey: l.key, Fingerprint: fp})
		return err
	}
	for _, l := range all {
		if err := acquire(l, "before"); err != nil {
			t.Fatal(err)
		}
	}
	// A run with nothing missed: it sets the mark the next one starts from.
	run()

	// The admin's changes commit; their write-through finds Redis down.
	dead := redis.NewClient(&redis.Options{Addr: testenv.DeadAddress(t), MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	down, err := backend.New(dead, b.DB, prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Sightings.Close)
	suspended := "suspended"
	if _, err := b.Tenants.Update(ctx, all[0].tenant, tenants.Patch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	if err := down.Licensing.SyncTenant(ctx, all[0].tenant); err == nil {
		t.Fatal("the write-through reached a dead Redis")
	}
	l, err := b.Licenses.Update(ctx, all[1].tenant, all[1].id, licenses.Patch{Status: &suspended})
	if err != nil {
		t.Fatal(err)
	}
	if err := down.Licensing.SyncLicense(ctx, l); err == nil {
		t.Fatal("the write-through reached a dead Redis")
	}

	// Until a run, Redis still grants both: the gap the run closes.
	for _, l := range all {
		if err := acquire(l, "missed"); err != nil {
			t.Fatalf("before the run, acquire of %s = %v; the test expects the missed write-through to show", l.id, err)
		}
	}
	run()
	for _, l := range all {
		if err := acquire(l, "after"); !errors.Is(err, seats.ErrLicenseInactive) {
			t.Errorf("after one cleanup run, acquire of %s = %v, want license inactive", l.id, err)
		}
	}
	if !strings.Contains(logs.String(), `"reconciled":2`) {
		t.Errorf("the run does not log the 2 licenses it reconciled:\n%s", logs)
	}
}
