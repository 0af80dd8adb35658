package notify_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	notifyfn "github.com/coditect-ai/license-server/functions/notify"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/notify"
	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// scheduler is outbox.Store.Schedule as the function takes it, counting
// its calls, or failing as told.
type scheduler struct {
	store *outbox.Store
	calls atomic.Int32
	fail  error
}

func (s *scheduler) Schedule(ctx context.Context, now time.Time) error {
	s.calls.Add(1)
	if s.fail != nil {
		return s.fail
	}
	_, err := s.store.Schedule(ctx, now)
	return err
}

// setup is a fresh database with a license that ends within a day, and
// the function served as make run mounts it, on the background role.
func setup(t *testing.T) (*backend.Backend, *scheduler, *httptest.Server, *testenv.LogBuffer, string) {
	t.Helper()
	ctx := context.Background()
	b, _ := testenv.Backend(t)
	ten, err := b.Tenants.Create(ctx, "Acme", "acme-"+time.Now().Format("150405.000000000")[7:], nil)
	if err != nil {
		t.Fatal(err)
	}
	ends := time.Now().Add(20 * time.Hour)
	l, _, err := b.Licenses.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: 1, LeaseTTLSeconds: 60,
		Leasing: "per_fingerprint", ExpiresAt: &ends})
	if err != nil {
		t.Fatal(err)
	}
	background := testenv.RoleBackends(t, b)[database.RoleCleanup]
	logs := &testenv.LogBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	d, err := notifyfn.Deliverer(testenv.Notify(t), background.DB, logger, nil, outbound.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := outbox.NewStore(background.DB)
	if err != nil {
		t.Fatal(err)
	}
	s := &scheduler{store: store}
	fn, err := notifyfn.New(d, s, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(route.CloudEvents(fn.Handle, notifyfn.TypeManual))
	t.Cleanup(srv.Close)
	return b, s, srv, logs, l.ID
}

// pubsub posts an Eventarc Pub/Sub event (binary mode), as the nudge and
// the minute's sweep arrive.
func pubsub(t *testing.T, url string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(
		`{"message":{"data":"e30=","messageId":"42","publishTime":"2026-12-04T10:00:00.000Z"},"subscription":"projects/p/subscriptions/s"}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Type": notifyfn.TypePubSub, "Ce-Id": "42",
		"Ce-Source": "//pubsub.googleapis.com/projects/p/topics/license-notify", "Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// events counts the license's events of typ, and those handed on.
func events(t *testing.T, b *backend.Backend, licenseID, typ string) (all, handedOn int) {
	t.Helper()
	err := b.DB.Tx(context.Background(), database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*), count(delivered_at) FROM outbox_events
			WHERE type = $1 AND payload -> 'license' ->> 'id' = $2`, typ, licenseID).Scan(&all, &handedOn)
	})
	if err != nil {
		t.Fatal(err)
	}
	return all, handedOn
}

// TestEachTriggerSchedulesThenDelivers: a Pub/Sub message (a nudge or the
// minute's tick) produces the scheduled events first and hands them on in
// the same run; another message adds nothing.
func TestEachTriggerSchedulesThenDelivers(t *testing.T) {
	t.Parallel()
	b, s, srv, logs, license := setup(t)
	for range 2 {
		if status := pubsub(t, srv.URL); status/100 != 2 {
			t.Fatalf("status %d\n%s", status, logs)
		}
	}
	if all, handed := events(t, b, license, "license.expiring"); all != 1 || handed != 1 {
		t.Fatalf("license.expiring: %d events, %d handed on; want one, handed on in its run\n%s", all, handed, logs)
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("the schedule ran %d times for 2 messages", n)
	}
	if !strings.Contains(logs.String(), `"msg":"notify run"`) {
		t.Errorf("the run that did something is not logged:\n%s", logs)
	}
}

// TestAFailedScheduleStillDeliversAndAsksForARetry: the run goes on to
// deliver what is pending, and the error reaches the trigger (a 5xx), so
// the message is delivered again and the schedule retried.
func TestAFailedScheduleStillDeliversAndAsksForARetry(t *testing.T) {
	t.Parallel()
	b, s, srv, logs, license := setup(t)
	s.fail = errors.New("postgres went away")
	if status := pubsub(t, srv.URL); status/100 != 5 {
		t.Fatalf("status %d, want a 5xx so the trigger redelivers", status)
	}
	if _, handed := events(t, b, license, "license.created"); handed != 1 {
		t.Errorf("the license's creation was not handed on despite the schedule's failure")
	}
	if !strings.Contains(logs.String(), "notify run failed") || !strings.Contains(logs.String(), "postgres went away") {
		t.Errorf("the failure is not logged:\n%s", logs)
	}
}

func TestUnknownEventIsAcknowledgedNotRun(t *testing.T) {
	t.Parallel()
	_, s, srv, logs, _ := setup(t)
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "com.example.other", "Ce-Id": "1",
		"Ce-Source": "/x", "Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("an event of another type got %d; the trigger would redeliver it forever", resp.StatusCode)
	}
	if s.calls.Load() != 0 || !strings.Contains(logs.String(), "ignoring event of unknown type") {
		t.Fatalf("schedule calls %d, logs:\n%s", s.calls.Load(), logs)
	}
}

func TestNewRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	if _, err := notifyfn.New(nil, &scheduler{}, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New accepted no deliverer")
	}
	if _, err := notifyfn.New(&notify.Deliverer{}, nil, nil, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("New accepted no scheduler")
	}
	if _, err := notifyfn.New(&notify.Deliverer{}, &scheduler{}, nil, nil); err == nil {
		t.Error("New accepted no logger")
	}
}

// TestDelivererConfiguration: bad keys are refused by name; the mail
// sender is SendGrid when its key is set, else SMTP, else the log.
func TestDelivererConfiguration(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	b, _ := testenv.Backend(t)
	c := testenv.Notify(t)
	c.SecretsKey = c.SecretsKey[:16]
	if _, err := notifyfn.Deliverer(c, b.DB, logger, nil, outbound.Policy{}); err == nil || !strings.Contains(err.Error(), "NOTIFY_SECRETS_KEY") {
		t.Errorf("a short secrets key: %v", err)
	}
	c = testenv.Notify(t)
	c.LinkKey = c.LinkKey[:8]
	if _, err := notifyfn.Deliverer(c, b.DB, logger, nil, outbound.Policy{}); err == nil || !strings.Contains(err.Error(), "NOTIFY_LINK_KEY") {
		t.Errorf("a short link key: %v", err)
	}
	for _, k := range []struct {
		name        string
		key, smtp   string
		want        string
		wantRefusal bool
	}{
		{"sendgrid", "SG.key", "mail.example.com:25", "*mail.SendGrid", false},
		{"smtp", "", "mail.example.com:25", "*mail.SMTP", false},
		{"log", "", "", "*mail.Log", false},
		{"none, the log not allowed", "", "", "", true},
		{"bad sendgrid key", "SG key", "", "", true},
	} {
		c := testenv.Notify(t)
		c.SendGridAPIKey, c.SMTPAddr = k.key, k.smtp
		c.MailToLog = k.name != "none, the log not allowed"
		s, err := notifyfn.MailSender(c, logger)
		if k.wantRefusal {
			if err == nil {
				t.Errorf("%s: accepted", k.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", k.name, err)
			continue
		}
		if got := fmt.Sprintf("%T", s); got != k.want {
			t.Errorf("%s: sender %s, want %s", k.name, got, k.want)
		}
	}
}
