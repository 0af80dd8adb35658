package notify_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/links"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/mail"
	"github.com/coditect-ai/license-server/shared/members"
	"github.com/coditect-ai/license-server/shared/notifications"
	"github.com/coditect-ai/license-server/shared/notify"
	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/outbound/dnstest"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/webhook"
)

const actor = "user:ada@example.com"

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// mailbox is a mail.Sender that keeps what it is given, or fails as told.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	fail error
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailbox) to(addr string) []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []mail.Message
	for _, msg := range m.msgs {
		if msg.To == addr {
			out = append(out, msg)
		}
	}
	return out
}

// receiver is a webhook endpoint on 127.0.0.1, reached as example.com
// (the name its certificate holds) through the test's DNS.
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []received
	next func(n int) (status int, header http.Header, wait time.Duration)
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		n := len(r.got)
		next := r.next
		r.mu.Unlock()
		status, header, wait := http.StatusOK, http.Header(nil), time.Duration(0)
		if next != nil {
			status, header, wait = next(n)
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-req.Context().Done():
			}
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"n":%d}`, n)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url(path string) string {
	return "https://example.com:" + r.srv.URL[strings.LastIndex(r.srv.URL, ":")+1:] + path
}

func (r *receiver) received() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// env is a fresh database, a tenant with two admins (their invitations
// already mailed), and a deliverer on the background role with a settable
// clock.
type env struct {
	t      *testing.T
	ctx    context.Context
	b      *backend.Backend
	roles  map[database.Role]*backend.Backend
	store  *notifications.Store
	sealer *webhook.Sealer
	signer *links.Signer
	clock  *clock
	mails  *mailbox
	dns    *dnstest.Server
	logs   *testenv.LogBuffer
	tenant string
	// timeout is each attempt's (default webhook.AttemptTimeout).
	timeout time.Duration
	// allow are the internal ranges webhooks may reach.
	allow []netip.Prefix
	rnd   func() float64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b, _ := testenv.Backend(t)
	key := func() []byte {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	e := &env{t: t, ctx: database.WithActor(context.Background(), actor), b: b, roles: testenv.RoleBackends(t, b),
		clock: &clock{t: time.Now().UTC().Truncate(time.Millisecond)}, mails: &mailbox{}, logs: &testenv.LogBuffer{},
		allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, rnd: func() float64 { return 0.5 }}
	var err error
	if e.sealer, err = webhook.NewSealer(key()); err != nil {
		t.Fatal(err)
	}
	if e.signer, err = links.NewSigner(key(), e.clock.now); err != nil {
		t.Fatal(err)
	}
	if e.store, err = notifications.NewStore(e.admin().DB, secrets{e.sealer}); err != nil {
		t.Fatal(err)
	}
	e.dns = dnstest.Start(t, map[string]string{"example.com": "127.0.0.1"})
	tn, err := e.admin().Tenants.Create(e.ctx, "Acme", fmt.Sprintf("acme-%d", time.Now().UnixNano()), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.tenant = tn.ID
	for _, who := range []string{"ada@example.com", "grace@example.com"} {
		if _, err := e.admin().Members.Invite(e.ctx, e.tenant, who, members.RoleAdmin, "", actor); err != nil {
			t.Fatal(err)
		}
	}
	// The setup's own events (the two invitations) are handed on and
	// mailed before the test begins, so each test sees only its own.
	if res := e.run(e.deliverer()); res.Events != 2 || res.Sent != 2 {
		t.Fatalf("setup run = %+v, want the two invitations mailed", res)
	}
	e.mails.msgs = nil
	return e
}

type secrets struct{ *webhook.Sealer }

func (secrets) New() (string, error) { return webhook.NewSecret() }

func (e *env) admin() *backend.Backend { return e.roles[database.RoleAdmin] }

// deliverer is a fresh deliverer (a new process, as far as the database
// can tell) trusting the receivers' certificates.
func (e *env) deliverer(rs ...*receiver) *notify.Deliverer {
	e.t.Helper()
	roots := x509.NewCertPool()
	for _, r := range rs {
		roots.AddCert(r.srv.Certificate())
	}
	client := outbound.NewClient(outbound.Policy{Allow: e.allow, Resolver: e.dns.Resolver(), RootCAs: roots})
	if e.timeout > 0 {
		client.Timeout = e.timeout
	}
	hooks, err := webhook.NewSender(client, e.clock.now)
	if err != nil {
		e.t.Fatal(err)
	}
	renderer, err := mail.NewRenderer("Licenses")
	if err != nil {
		e.t.Fatal(err)
	}
	d, err := notify.New(notify.Config{DB: e.roles[database.RoleCleanup].DB, Webhooks: hooks, Secrets: e.sealer,
		Now: e.clock.now, Rand: e.rnd, Logger: logging.New(e.logs, slog.LevelInfo),
		Mail: notify.MailConfig{Sender: e.mails, Renderer: renderer, Links: e.signer, PublicURL: "https://api.test"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) run(d *notify.Deliverer) notify.Result {
	e.t.Helper()
	res, err := d.Run(e.ctx)
	if err != nil {
		e.t.Fatalf("run: %v", err)
	}
	return res
}

// webhook registers an endpoint for types (none: all) and returns it with
// its secret.
func (e *env) webhook(url string, types ...string) (notifications.Webhook, string) {
	e.t.Helper()
	if types == nil {
		types = []string{}
	}
	w, secret, err := e.store.CreateWebhook(e.ctx, e.tenant, notifications.Fields{URL: &url, EventTypes: &types})
	if err != nil {
		e.t.Fatal(err)
	}
	return w, secret
}

func (e *env) license(product string) licenses.License {
	e.t.Helper()
	l, _, err := e.admin().Licenses.Create(e.ctx, e.tenant, licenses.New{Product: product, Seats: 2, LeaseTTLSeconds: 300,
		Leasing: licenses.PerFingerprint})
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func (e *env) suspend(id string) {
	e.t.Helper()
	s := "suspended"
	if _, err := e.admin().Licenses.Update(e.ctx, e.tenant, id, licenses.Patch{Status: &s}); err != nil {
		e.t.Fatal(err)
	}
}

// delivery is a delivery row as the tests read it (as the owner).
type delivery struct {
	ID, Status, EventType, MessageID string
	Attempts                         int
	NextAttemptAt                    time.Time
	FirstAttemptAt                   *time.Time
}

func (e *env) deliveries(webhookID string) []delivery {
	e.t.Helper()
	var out []delivery
	err := e.b.DB.Tx(e.ctx, database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(e.ctx, `SELECT id, status, event_type, message_id, attempts, next_attempt_at, first_attempt_at
			FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq, created_at`, webhookID)
		if err != nil {
			return err
		}
		var d delivery
		_, err = pgx.ForEachRow(rows, []any{&d.ID, &d.Status, &d.EventType, &d.MessageID, &d.Attempts, &d.NextAttemptAt, &d.FirstAttemptAt},
			func() error { out = append(out, d); return nil })
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// emit appends a derived event as the background role does.
func (e *env) emit(typ string, payload any, dedupe string) {
	e.t.Helper()
	doc, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.roles[database.RoleCleanup].DB.Tx(e.ctx, database.Platform(), func(tx pgx.Tx) error {
		_, err := tx.Exec(e.ctx, `SELECT outbox_emit($1, $2, $3, $4)`, e.tenant, typ, doc, dedupe)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// pendingEvents counts the tenant's events not handed on.
func (e *env) pendingEvents() int {
	e.t.Helper()
	var n int
	err := e.b.DB.Tx(e.ctx, database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(e.ctx, `SELECT count(*) FROM outbox_events WHERE tenant_id = $1 AND delivered_at IS NULL`, e.tenant).Scan(&n)
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}
