package e2e_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/functions/billingschedule"
	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/billing"
	bt "github.com/coditect-ai/license-server/shared/billing/billingtest"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/metering"
	"github.com/coditect-ai/license-server/shared/stripeclient"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// webhook posts a Stripe delivery signed with secret at signedAt.
func (a *api) webhook(payload []byte, secret string, signedAt time.Time) reply {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.srv.URL+"/v1/billing/stripe/webhook", bytes.NewReader(payload))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", bt.Sign(payload, secret, signedAt))
	return a.do(req)
}

// stripeEvent delivers a signed event and expects 200.
func (a *api) stripeEvent(id, typ string, created time.Time, obj map[string]any) reply {
	a.t.Helper()
	return a.expect(a.webhook(bt.Event(id, typ, created, obj), testenv.StripeWebhookSecret, time.Now()), 200, "")
}

func (a *api) countRows(sql string, args ...any) int {
	a.t.Helper()
	var n int
	err := a.b.DB.Tx(context.Background(), database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(&n)
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return n
}

// TestStripeDrivesLicensesOverHTTP: a Stripe checkout makes a tenant,
// invites the buyer and (with the subscription's events, in either order)
// makes the license; the quantity is the seats, as acquires see; a paid
// invoice renews; a failed payment leaves the license working through the
// grace, then the scheduled run suspends it (acquires refused) and a
// payment makes it active again; cancellation ends it at the paid
// period's end. The audit log names each Stripe event, the outbox holds
// the license's events, and the tenant's billing and the portal come from
// Stripe (stripe-mock). Forged, stale, duplicate and unknown deliveries
// change nothing.
func TestStripeDrivesLicensesOverHTTP(t *testing.T) {
	t.Parallel()
	mock := testenv.NewStripeMock(t)
	b, _ := testenv.Backend(t)
	// A grace of 2 s, and events made an hour ago: the grace of the
	// failed payment below has ended when the scheduled run comes.
	const grace = 2 * time.Second
	bill := testBilling(mock.URL)
	bill.Grace = grace
	a := serveAll(t, b, compose.AuthSettings{}, testenv.Notify(t), bill)
	now := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	periodEnd := now.Add(30 * 24 * time.Hour)
	plan := map[string]string{"product": "cad-pro", "lease_ttl_seconds": "60"}
	item := func(qty int64, end time.Time) bt.Item {
		return bt.Item{ID: "si_E2E", PriceID: "price_pro", Metadata: plan, Quantity: qty, PeriodStart: end.Add(-30 * 24 * time.Hour), PeriodEnd: end}
	}
	sub := func(status string, qty int64, end time.Time) map[string]any {
		return bt.Subscription("sub_E2E", "cus_E2E", status, false, item(qty, end))
	}

	// Refused deliveries: another secret, a body altered after signing, a
	// signature older than 5 minutes. Nothing changes.
	payload := bt.Event("evt_forged", billing.EventSubscriptionCreated, now, sub("active", 9, periodEnd))
	a.expect(a.webhook(payload, "whsec_attacker", time.Now()), 400, "invalid_signature")
	altered := bytes.Replace(payload, []byte(`"quantity":9`), []byte(`"quantity":99`), 1)
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/v1/billing/stripe/webhook", bytes.NewReader(altered))
	req.Header.Set("Stripe-Signature", bt.Sign(payload, testenv.StripeWebhookSecret, time.Now()))
	a.expect(a.do(req), 400, "invalid_signature")
	a.expect(a.webhook(payload, testenv.StripeWebhookSecret, time.Now().Add(-6*time.Minute)), 400, "invalid_signature")
	req, _ = http.NewRequest(http.MethodPost, a.srv.URL+"/v1/billing/stripe/webhook", bytes.NewReader(payload))
	a.expect(a.do(req), 400, "invalid_signature")
	if n := a.countRows(`SELECT count(*) FROM billing_stripe_events`) + a.countRows(`SELECT count(*) FROM billing_customers`); n != 0 {
		t.Fatalf("refused deliveries left %d rows", n)
	}
	if got := a.stripeEvent("evt_unknown", "customer.created", now, map[string]any{"object": "customer", "id": "cus_E2E"}); !strings.HasPrefix(got.str("outcome"), "ignored") {
		t.Fatalf("unknown type = %s", got.raw)
	}

	// Checkout, then the subscription's events out of order: the update
	// (3 seats) before the creation (2 seats), which is then stale.
	a.stripeEvent("evt_checkout", billing.EventCheckoutCompleted, now, bt.Checkout("cs_E2E", "cus_E2E", "sub_E2E", "buyer@example.com", "Acme"))
	a.stripeEvent("evt_updated", billing.EventSubscriptionUpdated, now.Add(time.Minute), sub("active", 3, periodEnd))
	if got := a.stripeEvent("evt_created", billing.EventSubscriptionCreated, now, sub("active", 2, periodEnd)); !strings.HasPrefix(got.str("outcome"), "stale") {
		t.Fatalf("late created = %s", got.raw)
	}
	if got := a.stripeEvent("evt_updated", billing.EventSubscriptionUpdated, now.Add(time.Minute), sub("active", 3, periodEnd)); got.body["duplicate"] != true {
		t.Fatalf("redelivery = %s", got.raw)
	}
	var tenant, licenseID string
	if err := a.b.DB.Tx(context.Background(), database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT i.tenant_id, i.license_id FROM billing_items i WHERE item_id = 'si_E2E'`).Scan(&tenant, &licenseID)
	}); err != nil {
		t.Fatal(err)
	}
	if n := a.countRows(`SELECT count(*) FROM memberships WHERE tenant_id = $1 AND email = 'buyer@example.com' AND role = 'admin'`, tenant); n != 1 {
		t.Fatalf("buyer invitations = %d", n)
	}
	licPath := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	l := a.expect(a.admin("GET", licPath, nil), 200, "")
	if l.num("seats") != 3 || l.str("product") != "cad-pro" || l.str("expires_at") != periodEnd.Add(grace).Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("license = %s", l.raw)
	}

	// The buyer's key comes from rotate-key, once; the seats are the
	// quantity.
	key := a.expect(a.admin("POST", licPath+"/rotate-key", nil), 200, "").str("key")
	for _, ws := range []string{"ws-1", "ws-2", "ws-3"} {
		a.expect(a.acquire(key, ws), 200, "")
	}
	a.expect(a.acquire(key, "ws-4"), 409, "no_seats_available")
	// Fewer seats: the live sessions stay, a new acquire waits.
	a.stripeEvent("evt_less", billing.EventSubscriptionUpdated, now.Add(2*time.Minute), sub("active", 2, periodEnd))
	a.expect(a.acquire(key, "ws-1"), 200, "")
	a.expect(a.acquire(key, "ws-5"), 409, "no_seats_available")

	// Renewal: invoice.paid moves the expiry to the next period's end.
	next := periodEnd.Add(30 * 24 * time.Hour)
	a.stripeEvent("evt_paid", billing.EventInvoicePaid, now.Add(3*time.Minute), bt.Invoice("in_E2E2", "cus_E2E", "sub_E2E", "paid", periodEnd, next))
	if l = a.expect(a.admin("GET", licPath, nil), 200, ""); l.str("expires_at") != next.Add(grace).Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("after invoice.paid = %s", l.raw)
	}

	// A failed payment whose grace has ended: still active until the
	// scheduled run, then suspended.
	a.stripeEvent("evt_failed", billing.EventInvoicePaymentFailed, now.Add(210*time.Second), bt.Invoice("in_E2E3", "cus_E2E", "sub_E2E", "open", next, next.Add(30*24*time.Hour)))
	a.expect(a.acquire(key, "ws-2"), 200, "")
	cleanup := testenv.RoleBackends(t, b)[database.RoleCleanup]
	client, err := stripeclient.New("sk_test_suite", mock.URL)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := metering.New(cleanup.DB, cleanup.Usage, metering.EngineLedger{Engine: cleanup.Seats}, metering.StripeSender{Client: client},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	sched, err := billingschedule.New(cleanup.DB, cleanup.Licenses, cleanup.Licensing, rep, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ev := cloudevents.NewEvent()
	ev.SetType(billingschedule.TypePing)
	ev.SetSource("/test")
	ev.SetID("1")
	if err := sched.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if l = a.expect(a.admin("GET", licPath, nil), 200, ""); l.str("status") != "suspended" {
		t.Fatalf("after the grace = %s", l.raw)
	}
	a.expect(a.acquire(key, "ws-2"), 403, "license_inactive")
	a.stripeEvent("evt_paid3", billing.EventInvoicePaid, now.Add(4*time.Minute), bt.Invoice("in_E2E3", "cus_E2E", "sub_E2E", "paid", next, next.Add(30*24*time.Hour)))
	if l = a.expect(a.admin("GET", licPath, nil), 200, ""); l.str("status") != "active" {
		t.Fatalf("after paying = %s", l.raw)
	}
	a.expect(a.acquire(key, "ws-2"), 200, "")

	// The tenant's billing, with Stripe's preview of the next invoice, and
	// the customer portal.
	acc := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/billing", nil), 200, "")
	subs, _ := acc.body["subscriptions"].([]any)
	if acc.str("stripe_customer_id") != "cus_E2E" || len(subs) != 1 || subs[0].(map[string]any)["status"] != "active" {
		t.Fatalf("billing = %s", acc.raw)
	}
	if inv, _ := acc.body["next_invoices"].([]any); len(inv) != 1 {
		t.Fatalf("next invoices = %s", acc.raw)
	}
	if calls := mock.Calls(http.MethodPost, "/v1/invoices/create_preview"); len(calls) != 1 || calls[0].Form.Get("customer") != "cus_E2E" ||
		calls[0].Form.Get("subscription") != "sub_E2E" {
		t.Fatalf("preview calls = %+v", calls)
	}
	portal := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/billing/portal", nil), 201, "")
	if !strings.HasPrefix(portal.str("url"), "http") {
		t.Fatalf("portal = %s", portal.raw)
	}
	if calls := mock.Calls(http.MethodPost, "/v1/billing_portal/sessions"); len(calls) != 1 || calls[0].Form.Get("customer") != "cus_E2E" ||
		calls[0].Form.Get("return_url") != "https://console.test/" {
		t.Fatalf("portal calls = %+v", calls)
	}
	other := a.tenant("not-stripe")
	a.expect(a.admin("POST", "/v1/tenants/"+other+"/billing/portal", nil), 409, "billing_not_set_up")
	if got := a.expect(a.admin("GET", "/v1/tenants/"+other+"/billing", nil), 200, ""); got.body["stripe_customer_id"] != nil {
		t.Fatalf("billing of a tenant not sold through Stripe = %s", got.raw)
	}
	otherAdmin := a.expect(a.admin("POST", "/v1/tenants/"+other+"/api-keys", map[string]any{"name": "ops", "role": "admin"}), 201, "").str("key")
	a.expect(a.call("GET", "/v1/tenants/"+tenant+"/billing", otherAdmin, nil), 404, "tenant_not_found")
	a.expect(a.call("POST", "/v1/tenants/"+tenant+"/billing/portal", otherAdmin, nil), 404, "tenant_not_found")

	// Cancellation: the license expires at the paid period's end.
	paidThrough := next.Add(30 * 24 * time.Hour)
	a.stripeEvent("evt_deleted", billing.EventSubscriptionDeleted, now.Add(5*time.Minute), sub("canceled", 2, paidThrough))
	if l = a.expect(a.admin("GET", licPath, nil), 200, ""); l.str("expires_at") != paidThrough.Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("after deletion = %s", l.raw)
	}

	// Who changed what: each change's audit entry names its Stripe event
	// (or the grace's run), and the outbox holds the license's events.
	for _, actor := range []string{"stripe:evt_updated", "stripe:evt_less", "stripe:evt_paid", "billing:grace", "stripe:evt_paid3", "stripe:evt_deleted"} {
		if n := a.countRows(`SELECT count(*) FROM audit_log WHERE target_id = $1 AND actor = $2`, licenseID, actor); n == 0 {
			t.Errorf("no audit entry of the license by %s", actor)
		}
	}
	if n := a.countRows(`SELECT count(*) FROM outbox_events WHERE tenant_id = $1 AND type = 'license.created'`, tenant); n != 1 {
		t.Errorf("license.created events = %d", n)
	}
	// Seats lowered, renewed twice, ended: updates; the grace's end and
	// the payment: suspended and resumed.
	if n := a.countRows(`SELECT count(*) FROM outbox_events WHERE tenant_id = $1 AND type = 'license.updated'`, tenant); n != 4 {
		t.Errorf("license.updated events = %d, want 4", n)
	}
	for _, typ := range []string{"license.suspended", "license.resumed"} {
		if n := a.countRows(`SELECT count(*) FROM outbox_events WHERE tenant_id = $1 AND type = $2`, tenant, typ); n != 1 {
			t.Errorf("%s events = %d, want 1", typ, n)
		}
	}
	// The failed payment told the admins once (billing.payment_failed).
	if n := a.countRows(`SELECT count(*) FROM outbox_events WHERE tenant_id = $1 AND type = 'billing.payment_failed'
		AND payload ->> 'subscription_id' = 'sub_E2E' AND payload -> 'licenses' ? $2 AND payload ->> 'actor' = 'stripe:evt_failed'`,
		tenant, licenseID); n != 1 {
		t.Errorf("billing.payment_failed events = %d, want 1", n)
	}
	if n := a.countRows(`SELECT count(*) FROM outbox_events WHERE tenant_id = $1 AND type = 'member.invited'`, tenant); n != 1 {
		t.Errorf("member.invited events = %d", n)
	}
}

// TestAutoRenewOverHTTP: the platform sets and clears a license's
// auto_renew; a tenant admin may not (a commercial term); a bad period is
// 400 and changes nothing.
func TestAutoRenewOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("renews")
	licenseID, _ := a.license(tenant, map[string]any{"seats": 1, "expires_at": "2027-01-31T12:00:00Z", "auto_renew": map[string]any{"period": "P1M"}})
	path := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	if got := a.expect(a.admin("GET", path, nil), 200, ""); got.body["auto_renew"].(map[string]any)["period"] != "P1M" {
		t.Fatalf("license = %s", got.raw)
	}
	tenantAdmin := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys", map[string]any{"name": "ops", "role": "admin"}), 201, "").str("key")
	a.expect(a.call("PATCH", path, tenantAdmin, map[string]any{"auto_renew": nil}), 403, "forbidden")
	for _, bad := range []any{"P1M", map[string]any{"period": "P1W"}, map[string]any{"period": "P1M", "day": 1}, map[string]any{}} {
		a.expect(a.admin("PATCH", path, map[string]any{"auto_renew": bad}), 400, "invalid_request")
	}
	if got := a.expect(a.admin("PATCH", path, map[string]any{"auto_renew": map[string]any{"period": "P1Y"}}), 200, ""); got.body["auto_renew"].(map[string]any)["period"] != "P1Y" {
		t.Fatalf("PATCH P1Y = %s", got.raw)
	}
	if got := a.expect(a.admin("PATCH", path, map[string]any{"auto_renew": nil}), 200, ""); got.body["auto_renew"] != nil {
		t.Fatalf("PATCH null = %s", got.raw)
	}
	if n := a.countRows(`SELECT count(*) FROM outbox_events WHERE tenant_id = $1 AND type = 'license.updated'
		AND payload -> 'changed' ? 'auto_renew_period'`, tenant); n != 2 {
		t.Fatalf("license.updated naming auto_renew_period = %d, want 2", n)
	}
}
