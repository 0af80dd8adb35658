package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	notifyfn "github.com/coditect-ai/license-server/functions/notify"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/notify"
	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// hookReceiver is a tenant's webhook endpoint: it keeps what it is sent.
type hookReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookDelivery
}

type hookDelivery struct {
	header http.Header
	body   []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, hookDelivery{header: r.Header.Clone(), body: body})
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) deliveries() []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// fakeSendGrid is SendGrid's v3 Mail Send API as far as a sender sees it:
// it checks each request's shape, as SendGrid would refuse a wrong one,
// and keeps the messages.
type fakeSendGrid struct {
	t   *testing.T
	key string
	srv *httptest.Server
	mu  sync.Mutex
	got []sgMessage
}

type sgMessage struct {
	Personalizations []struct {
		To []struct {
			Email string `json:"email"`
		} `json:"to"`
	} `json:"personalizations"`
	From struct {
		Email string `json:"email"`
	} `json:"from"`
	Subject string `json:"subject"`
	Content []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"content"`
	Headers map[string]string `json:"headers"`
}

func (m sgMessage) to() string {
	if len(m.Personalizations) != 1 || len(m.Personalizations[0].To) != 1 {
		return ""
	}
	return m.Personalizations[0].To[0].Email
}

func (m sgMessage) part(typ string) string {
	for _, c := range m.Content {
		if c.Type == typ {
			return c.Value
		}
	}
	return ""
}

func newFakeSendGrid(t *testing.T, key string) *fakeSendGrid {
	t.Helper()
	f := &fakeSendGrid{t: t, key: key}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m sgMessage
		dec := json.NewDecoder(r.Body)
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/v3/mail/send":
			t.Errorf("SendGrid: %s %s, want POST /v3/mail/send", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
			return
		case r.Header.Get("Authorization") != "Bearer "+key:
			t.Errorf("SendGrid: Authorization %q", r.Header.Get("Authorization"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		case r.Header.Get("Content-Type") != "application/json":
			t.Errorf("SendGrid: Content-Type %q", r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		case dec.Decode(&m) != nil:
			t.Error("SendGrid: the body is not JSON")
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		// SendGrid's rules: a recipient, a sender, a subject, text/plain
		// before text/html.
		if m.to() == "" || m.From.Email == "" || m.Subject == "" || len(m.Content) != 2 ||
			m.Content[0].Type != "text/plain" || m.Content[1].Type != "text/html" || m.Content[0].Value == "" || m.Content[1].Value == "" {
			t.Errorf("SendGrid: a message SendGrid would refuse: %+v", m)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, m)
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSendGrid) to(addr string) []sgMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sgMessage
	for _, m := range f.got {
		if m.to() == addr {
			out = append(out, m)
		}
	}
	return out
}

// serveNotify serves every function with the notification settings n, and
// returns the Notify function's deliverer on the background role, as
// production deploys it.
func serveNotify(t *testing.T, n config.Notify) (*api, *notify.Deliverer, *outbox.Store) {
	t.Helper()
	b, _ := testenv.Backend(t)
	a := serveWithAuthNotify(t, b, compose.AuthSettings{}, n)
	background := testenv.RoleBackends(t, b)[database.RoleCleanup]
	d, err := notifyfn.Deliverer(n, background.DB, logging.New(a.log, slog.LevelInfo), nil, outbound.Policy{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := outbox.NewStore(background.DB)
	if err != nil {
		t.Fatal(err)
	}
	return a, d, store
}

// TestNotificationsOverHTTP: every admin change made over HTTP reaches a
// registered endpoint exactly once, signed so that the Standard Webhooks
// reference library verifies it; a seat denial drained from the ledger and
// the scheduled expiry notice do too, and repeating the drain or the
// schedule adds nothing; mails go out through SendGrid (the invitation
// with its link, notices with a one-click unsubscribe that works without
// signing in).
func TestNotificationsOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := testenv.Notify(t)
	sendgrid := newFakeSendGrid(t, "SG.e2e-key")
	n.SendGridAPIKey, n.SendGridURL = "SG.e2e-key", sendgrid.srv.URL
	a, deliverer, schedule := serveNotify(t, n)
	run := func() notify.Result {
		t.Helper()
		res, err := deliverer.Run(ctx)
		if err != nil {
			t.Fatalf("notify run: %v", err)
		}
		return res
	}

	tenant := a.tenant("notify-e2e")
	T := "/v1/tenants/" + tenant
	receiver := newHookReceiver(t)
	hook := a.expect(a.admin("POST", T+"/webhooks", map[string]any{"url": receiver.srv.URL + "/in"}), 201, "")
	secret := hook.str("secret")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q is not in Standard Webhooks' form", secret)
	}
	if got := a.expect(a.admin("GET", T+"/webhooks/"+hook.str("id"), nil), 200, ""); strings.Contains(got.raw, secret) {
		t.Fatal("the secret is shown again after its creation")
	}

	// The admin changes, each its event.
	ada := a.expect(a.admin("POST", T+"/members", map[string]any{"email": "ada@example.com", "role": "admin"}), 201, "").str("id")
	bob := a.expect(a.admin("POST", T+"/members", map[string]any{"email": "bob@example.com", "role": "member"}), 201, "").str("id")
	a.expect(a.admin("DELETE", T+"/members/"+bob, nil), 204, "")
	license, oldKey := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 60, "leasing": "per_fingerprint"})
	L := T + "/licenses/" + license
	a.expect(a.admin("PATCH", L, map[string]any{"seats": 2}), 200, "")
	a.expect(a.admin("PATCH", L, map[string]any{"status": "suspended"}), 200, "")
	a.expect(a.admin("PATCH", L, map[string]any{"status": "active"}), 200, "")
	key := a.expect(a.admin("POST", L+"/rotate-key", map[string]any{"grace_seconds": 0}), 200, "").str("key")
	a.expect(a.admin("PATCH", L, map[string]any{"seats": 1}), 200, "")
	first := a.expect(a.acquire(key, "laptop-1"), 200, "")
	a.expect(a.acquire(key, "laptop-2"), 409, "no_seats_available")
	ws := a.workstationID(tenant, "laptop-1")
	a.expect(a.admin("DELETE", L+"/sessions/"+tokens.SessionDigest(first.str("session_id")), nil), 204, "")
	a.expect(a.admin("PATCH", T+"/workstations/"+ws, map[string]any{"blocked": true}), 200, "")
	a.expect(a.admin("PATCH", T+"/workstations/"+ws, map[string]any{"blocked": false}), 200, "")
	apiKey := a.expect(a.admin("POST", T+"/api-keys", map[string]any{"name": "ci", "role": "member"}), 201, "").str("id")
	a.expect(a.admin("DELETE", T+"/api-keys/"+apiKey, nil), 204, "")

	// The denial reaches the ledger with the cleanup's drain (twice: a
	// replayed drain adds nothing); a license ending within a day is
	// noticed by the schedule (twice: a repeated run adds nothing).
	expiring, _ := a.license(tenant, map[string]any{"product": "ending", "expires_at": time.Now().Add(20 * time.Hour).UTC().Format(time.RFC3339)})
	for range 2 {
		if _, err := a.b.Cleaner.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := schedule.Schedule(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	a.expect(a.admin("DELETE", L, nil), 204, "")

	res := run()
	if again := run(); again != (notify.Result{}) {
		t.Errorf("a second run did something: %+v", again)
	}
	want := map[string]int{"member.invited": 2, "member.removed": 1, "license.created": 2, "license.updated": 2,
		"license.suspended": 1, "license.resumed": 1, "license.key_rotated": 1, "session.revoked": 1,
		"workstation.blocked": 1, "workstation.unblocked": 1, "api_key.created": 1, "api_key.revoked": 1,
		"seats.exhausted": 1, "license.expiring": 1, "license.deleted": 1}
	got := map[string]int{}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range receiver.deliveries() {
		if err := wh.Verify(d.body, d.header); err != nil {
			t.Errorf("the Standard Webhooks library refuses a delivery: %v: %s", err, d.body)
		}
		var env map[string]any
		if err := json.Unmarshal(d.body, &env); err != nil {
			t.Fatalf("a delivery is not JSON: %s", d.body)
		}
		id, _ := env["id"].(string)
		typ, _ := env["type"].(string)
		if env["tenant_id"] != tenant || d.header.Get("webhook-id") != id {
			t.Errorf("delivery %s: tenant %v, webhook-id %q", id, env["tenant_id"], d.header.Get("webhook-id"))
		}
		if ids[id] {
			t.Errorf("event %s (%s) delivered twice", id, typ)
		}
		ids[id] = true
		got[typ]++
		if strings.Contains(string(d.body), key) || strings.Contains(string(d.body), oldKey) || strings.Contains(string(d.body), first.str("session_id")) {
			t.Errorf("a %s delivery carries a secret: %s", typ, d.body)
		}
		if typ == "license.expiring" {
			data := env["data"].(map[string]any)
			if data["days"] != 1.0 || data["license"].(map[string]any)["id"] != expiring {
				t.Errorf("license.expiring data = %v", data)
			}
		}
	}
	for typ, n := range want {
		if got[typ] != n {
			t.Errorf("%s delivered %d times, want %d (all: %v)", typ, got[typ], n, got)
		}
	}
	for typ := range got {
		if _, ok := want[typ]; !ok {
			t.Errorf("unexpected %s (%d)", typ, got[typ])
		}
	}
	if res.Delivered != len(ids) {
		t.Errorf("run = %+v; the receiver got %d events", res, len(ids))
	}

	// The log shows each delivery with its attempt.
	log := a.expect(a.admin("GET", T+"/webhooks/"+hook.str("id")+"/deliveries?limit=100", nil), 200, "")
	if n := len(log.body["deliveries"].([]any)); n != len(ids) {
		t.Errorf("the delivery log lists %d deliveries, want %d", n, len(ids))
	}

	// Mails, through SendGrid: ada's invitation with its link (no
	// unsubscribe: it is essential), and the notices on by default to the
	// admins (ada) with a one-click unsubscribe link.
	inv := sendgrid.to("ada@example.com")
	var invitation, exhausted *sgMessage
	for i, m := range inv {
		switch {
		case strings.Contains(m.part("text/plain"), "?invitation="):
			invitation = &inv[i]
		case strings.Contains(strings.ToLower(m.Subject), "seat"):
			exhausted = &inv[i]
		}
	}
	if invitation == nil || invitation.Headers["List-Unsubscribe"] != "" {
		t.Fatalf("ada's invitation: %+v (all: %d mails)", invitation, len(inv))
	}
	if len(sendgrid.to("bob@example.com")) != 1 {
		t.Errorf("bob got %d mails, want his invitation alone", len(sendgrid.to("bob@example.com")))
	}
	if exhausted == nil || !strings.HasPrefix(exhausted.Headers["List-Unsubscribe"], "<https://api.test/v1/notifications/unsubscribe?token=") {
		t.Fatalf("ada's seats.exhausted notice: %+v", exhausted)
	}
	for _, m := range inv {
		if strings.Contains(m.part("text/plain"), key) || strings.Contains(m.part("text/html"), secret) {
			t.Errorf("a mail carries a secret: %s", m.Subject)
		}
	}

	// Unsubscribing needs no sign-in: the page (a GET changes nothing),
	// then the one-click POST a mail client sends.
	link, err := url.Parse(strings.Trim(exhausted.Headers["List-Unsubscribe"], "<>"))
	if err != nil {
		t.Fatal(err)
	}
	page := mustRequest(t, "GET", a.srv.URL+link.RequestURI(), "")
	page.Header.Set("Accept", "text/html")
	resp, err := http.DefaultClient.Do(page)
	if err != nil {
		t.Fatal(err)
	}
	html, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(html), "ada@example.com") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("unsubscribe page: %d %s", resp.StatusCode, html)
	}
	oneClick := mustRequest(t, "POST", a.srv.URL+link.RequestURI(), "List-Unsubscribe=One-Click")
	oneClick.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := a.do(oneClick); r.status != 200 || r.body["unsubscribed"] != true || r.body["event_type"] != "seats.exhausted" {
		t.Fatalf("one-click unsubscribe: %d %s", r.status, r.raw)
	}
	forged := mustRequest(t, "POST", a.srv.URL+"/v1/notifications/unsubscribe?token="+url.QueryEscape(link.Query().Get("token")+"x"), "")
	a.expect(a.do(forged), 400, "invalid_link")

	// The invitation's link tells, without signing in, what it is for.
	token := invitation.part("text/plain")
	token = token[strings.Index(token, "?invitation=")+len("?invitation="):]
	token, _ = url.QueryUnescape(strings.Fields(token)[0])
	got1 := a.expect(a.call("GET", "/v1/invitations/"+url.PathEscape(token), "", nil), 200, "")
	if got1.str("email") != "ada@example.com" || got1.str("role") != "admin" || got1.str("tenant_id") != tenant {
		t.Errorf("invitation = %s", got1.raw)
	}
	a.expect(a.admin("DELETE", T+"/members/"+ada, nil), 409, "last_admin")
}
