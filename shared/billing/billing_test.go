package billing_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/billing"
	bt "github.com/coditect-ai/license-server/shared/billing/billingtest"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/testenv"
)

const grace = 72 * time.Hour

type fixture struct {
	t        *testing.T
	ctx      context.Context
	owner    *database.DB
	applier  *billing.Applier
	accounts *billing.Accounts
	lic      *licenses.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	owner := testenv.Postgres(t)
	admin := testenv.OpenAs(t, owner, database.RoleAdmin)
	a, err := billing.NewApplier(admin, grace)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := billing.NewAccounts(admin)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := licenses.NewStore(admin)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: context.Background(), owner: owner, applier: a, accounts: acc, lic: ls}
}

func (f *fixture) apply(id, typ string, created time.Time, obj map[string]any) billing.Result {
	f.t.Helper()
	res, err := f.applier.Apply(f.ctx, bt.Parsed(id, typ, created, obj))
	if err != nil {
		f.t.Fatalf("applying %s %s: %v", typ, id, err)
	}
	return res
}

// license returns the license of the tenant's only subscription item.
func (f *fixture) license(tenantID string) licenses.License {
	f.t.Helper()
	acc, err := f.accounts.Get(f.ctx, tenantID)
	if err != nil {
		f.t.Fatal(err)
	}
	if len(acc.Subscriptions) != 1 || len(acc.Subscriptions[0].Items) != 1 {
		f.t.Fatalf("account = %+v, want one subscription with one item", acc)
	}
	l, err := f.lic.Get(f.ctx, tenantID, acc.Subscriptions[0].Items[0].LicenseID)
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

var (
	t0     = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	t1     = t0.AddDate(0, 1, 0)
	t2     = t1.AddDate(0, 1, 0)
	plan   = map[string]string{"product": "cad-pro", "lease_ttl_seconds": "120", "overage_mode": "percent", "overage_value": "10"}
	item5  = bt.Item{ID: "si_A1", PriceID: "price_pro", Metadata: plan, Quantity: 5, PeriodStart: t0, PeriodEnd: t1}
	item8  = bt.Item{ID: "si_A1", PriceID: "price_pro", Metadata: plan, Quantity: 8, PeriodStart: t0, PeriodEnd: t1}
	item8b = bt.Item{ID: "si_A1", PriceID: "price_pro", Metadata: plan, Quantity: 8, PeriodStart: t1, PeriodEnd: t2}
)

// The life of a subscription: checkout, created, a quantity change, a
// renewal, a failed payment past its grace, a payment, and cancellation.
func TestSubscriptionDrivesItsLicense(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.apply("evt_checkout", billing.EventCheckoutCompleted, t0, bt.Checkout("cs_1", "cus_A", "sub_A", "Buyer@Example.com", "Acme GmbH"))
	if res.TenantID == "" || !strings.Contains(res.Outcome, "invited") {
		t.Fatalf("checkout = %+v", res)
	}
	tenantID := res.TenantID
	var name string
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT name FROM tenants WHERE id = $1`, tenantID).Scan(&name); err != nil || name != "Acme GmbH" {
		t.Fatalf("tenant name = %q, %v", name, err)
	}
	var role, createdBy string
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT role, created_by FROM memberships WHERE tenant_id = $1 AND email = 'buyer@example.com'`,
		tenantID).Scan(&role, &createdBy); err != nil || role != "admin" || createdBy != "stripe:evt_checkout" {
		t.Fatalf("buyer membership = %q by %q, %v", role, createdBy, err)
	}

	res = f.apply("evt_created", billing.EventSubscriptionCreated, t0.Add(time.Second), bt.Subscription("sub_A", "cus_A", "active", false, item5))
	if res.TenantID != tenantID || len(res.Licenses) != 1 {
		t.Fatalf("created = %+v", res)
	}
	l := f.license(tenantID)
	if l.Product != "cad-pro" || l.Seats != 5 || l.LeaseTTLSeconds != 120 || l.OverageMode != "percent" || l.OverageValue != 10 ||
		l.Status != "active" || l.ExpiresAt == nil || !l.ExpiresAt.Equal(t1.Add(grace)) {
		t.Fatalf("license after created = %+v", l)
	}

	// Seats follow the quantity; the expiry does not move without a payment.
	f.apply("evt_qty", billing.EventSubscriptionUpdated, t0.Add(time.Hour), bt.Subscription("sub_A", "cus_A", "active", false, item8))
	if l = f.license(tenantID); l.Seats != 8 || !l.ExpiresAt.Equal(t1.Add(grace)) {
		t.Fatalf("license after quantity 8 = seats %d, expires %v", l.Seats, l.ExpiresAt)
	}
	f.apply("evt_roll", billing.EventSubscriptionUpdated, t1, bt.Subscription("sub_A", "cus_A", "active", false, item8b))
	if l = f.license(tenantID); !l.ExpiresAt.Equal(t1.Add(grace)) {
		t.Fatalf("a new period without a payment moved the expiry to %v", l.ExpiresAt)
	}
	// invoice.paid renews.
	f.apply("evt_paid2", billing.EventInvoicePaid, t1.Add(time.Minute), bt.Invoice("in_2", "cus_A", "sub_A", "paid", t1, t2))
	if l = f.license(tenantID); !l.ExpiresAt.Equal(t2.Add(grace)) || l.Status != "active" {
		t.Fatalf("after invoice.paid: expires %v, status %s; want %v active", l.ExpiresAt, l.Status, t2.Add(grace))
	}

	// A failed payment: active through the grace, then suspended by the
	// scheduled run, active again once paid.
	failedAt := t2.Add(time.Hour)
	f.apply("evt_fail3", billing.EventInvoicePaymentFailed, failedAt, bt.Invoice("in_3", "cus_A", "sub_A", "open", t2, t2.AddDate(0, 1, 0)))
	cleanup := testenv.OpenAs(t, f.owner, database.RoleCleanup)
	if got, err := billing.SuspendOverdue(f.ctx, cleanup, failedAt.Add(grace-time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("before the grace ended: suspended %v, %v", got, err)
	}
	if l = f.license(tenantID); l.Status != "active" {
		t.Fatalf("status during the grace = %s", l.Status)
	}
	// A retry failing again does not extend the grace.
	f.apply("evt_fail3b", billing.EventInvoicePaymentFailed, failedAt.Add(24*time.Hour), bt.Invoice("in_3", "cus_A", "sub_A", "open", t2, t2.AddDate(0, 1, 0)))
	got, err := billing.SuspendOverdue(f.ctx, cleanup, failedAt.Add(grace))
	if err != nil || len(got) != 1 || got[0].LicenseID != l.ID {
		t.Fatalf("after the grace: suspended %v, %v", got, err)
	}
	if l = f.license(tenantID); l.Status != "suspended" {
		t.Fatalf("status after the grace = %s", l.Status)
	}
	if again, err := billing.SuspendOverdue(f.ctx, cleanup, failedAt.Add(2*grace)); err != nil || len(again) != 0 {
		t.Fatalf("a second run suspended %v, %v", again, err)
	}
	var actor string
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT actor FROM audit_log WHERE target_id = $1 AND after->>'status' = 'suspended'`,
		l.ID).Scan(&actor); err != nil || actor != "billing:grace" {
		t.Fatalf("the suspension's audit actor = %q, %v", actor, err)
	}
	t3 := t2.AddDate(0, 1, 0)
	f.apply("evt_paid3", billing.EventInvoicePaid, failedAt.Add(5*24*time.Hour), bt.Invoice("in_3", "cus_A", "sub_A", "paid", t2, t3))
	if l = f.license(tenantID); l.Status != "active" || !l.ExpiresAt.Equal(t3.Add(grace)) {
		t.Fatalf("after paying: status %s, expires %v", l.Status, l.ExpiresAt)
	}

	// Cancellation: the license expires at the paid period's end.
	f.apply("evt_del", billing.EventSubscriptionDeleted, t3.Add(-time.Hour), bt.Subscription("sub_A", "cus_A", "canceled", false, item8b))
	if l = f.license(tenantID); !l.ExpiresAt.Equal(t3) {
		t.Fatalf("after deletion: expires %v, want %v", l.ExpiresAt, t3)
	}
	// Every change names its Stripe event in the audit log.
	var n int
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT count(*) FROM audit_log WHERE target_id = $1 AND actor LIKE 'stripe:evt_%'`,
		l.ID).Scan(&n); err != nil || n < 5 {
		t.Fatalf("audit entries by stripe events = %d, %v", n, err)
	}
}

// Duplicates and out-of-order delivery: an event applied twice changes
// nothing the second time, and an older state arriving after a newer one
// is ignored (an updated before its created).
func TestDuplicatesAndOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	res := f.apply("evt_upd", billing.EventSubscriptionUpdated, t0.Add(time.Hour), bt.Subscription("sub_B", "cus_B", "active", false, item8))
	tenantID := res.TenantID
	if l := f.license(tenantID); l.Seats != 8 {
		t.Fatalf("seats = %d after the update that came first", l.Seats)
	}
	res = f.apply("evt_crt", billing.EventSubscriptionCreated, t0, bt.Subscription("sub_B", "cus_B", "active", false, item5))
	if !strings.HasPrefix(res.Outcome, "stale") {
		t.Fatalf("late created = %+v", res)
	}
	if l := f.license(tenantID); l.Seats != 8 {
		t.Fatalf("the late created event set seats to %d", l.Seats)
	}
	res = f.apply("evt_upd", billing.EventSubscriptionUpdated, t0.Add(time.Hour), bt.Subscription("sub_B", "cus_B", "active", false, item5))
	if !res.Duplicate {
		t.Fatalf("redelivery = %+v", res)
	}
	// Concurrent deliveries of one event: applied once.
	var wg sync.WaitGroup
	results := make([]billing.Result, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.applier.Apply(f.ctx, bt.Parsed("evt_conc", billing.EventSubscriptionUpdated, t0.Add(2*time.Hour),
				bt.Subscription("sub_B", "cus_B", "active", false, bt.Item{ID: "si_A1", PriceID: "price_pro", Metadata: plan, Quantity: 11, PeriodStart: t0, PeriodEnd: t1})))
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	applied := 0
	for _, r := range results {
		if !r.Duplicate {
			applied++
		}
	}
	if applied != 1 {
		t.Fatalf("%d of 4 concurrent deliveries applied", applied)
	}
	var licensesN int
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT count(*) FROM licenses WHERE tenant_id = $1`, tenantID).Scan(&licensesN); err != nil || licensesN != 1 {
		t.Fatalf("licenses = %d, %v", licensesN, err)
	}
	// An invoice before its subscription's events: the paid period is
	// kept and used when the subscription arrives.
	res = f.apply("evt_inv_first", billing.EventInvoicePaid, t0, bt.Invoice("in_C", "cus_C", "sub_C", "paid", t0, t2))
	itemC := item5
	itemC.ID = "si_C1"
	f.apply("evt_sub_c", billing.EventSubscriptionCreated, t0.Add(time.Second), bt.Subscription("sub_C", "cus_C", "active", false, itemC))
	acc, err := f.accounts.Get(f.ctx, res.TenantID)
	if err != nil || len(acc.Subscriptions) != 1 {
		t.Fatalf("account = %+v, %v", acc, err)
	}
	l, err := f.lic.Get(f.ctx, res.TenantID, acc.Subscriptions[0].Items[0].LicenseID)
	if err != nil || !l.ExpiresAt.Equal(t2.Add(grace)) {
		t.Fatalf("license expires %v, %v; want the invoice's period end %v + grace", l.ExpiresAt, err, t2)
	}
}

// Content that cannot be applied is recorded and acknowledged, and
// changes nothing; an event type billing does not act on is ignored.
func TestRefusedAndIgnored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bad := bt.Item{ID: "si_bad", PriceID: "price_bad", Metadata: map[string]string{"product": "x", "lease_ttl_seconds": "5"}, Quantity: 1, PeriodStart: t0, PeriodEnd: t1}
	res := f.apply("evt_bad", billing.EventSubscriptionCreated, t0, bt.Subscription("sub_D", "cus_D", "active", false, bad))
	if !strings.HasPrefix(res.Outcome, "refused") || len(res.Licenses) != 0 {
		t.Fatalf("bad policy = %+v", res)
	}
	var n int
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT count(*) FROM licenses l JOIN billing_customers c USING (tenant_id)
		WHERE c.stripe_customer_id = 'cus_D'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("licenses after a refused event = %d, %v", n, err)
	}
	var outcome string
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT outcome FROM billing_stripe_events WHERE event_id = 'evt_bad'`).Scan(&outcome); err != nil ||
		!strings.HasPrefix(outcome, "refused") {
		t.Fatalf("recorded outcome = %q, %v", outcome, err)
	}
	res = f.apply("evt_other", "customer.created", t0, map[string]any{"object": "customer", "id": "cus_E"})
	if !strings.HasPrefix(res.Outcome, "ignored") {
		t.Fatalf("unknown type = %+v", res)
	}
	// An incomplete subscription gets its license when it becomes active.
	// An item another subscription holds is refused.
	f.apply("evt_ok", billing.EventSubscriptionCreated, t0, bt.Subscription("sub_G", "cus_G", "active", false, item5))
	if res = f.apply("evt_steal", billing.EventSubscriptionUpdated, t0.Add(time.Minute), bt.Subscription("sub_H", "cus_H", "active", false, item8)); !strings.Contains(res.Outcome, "another subscription") {
		t.Fatalf("an item of another subscription = %+v", res)
	}
	itemF := item5
	itemF.ID = "si_F1"
	res = f.apply("evt_inc", billing.EventSubscriptionCreated, t0, bt.Subscription("sub_F", "cus_F", "incomplete", false, itemF))
	if len(res.Licenses) != 0 {
		t.Fatalf("incomplete = %+v", res)
	}
	res = f.apply("evt_act", billing.EventSubscriptionUpdated, t0.Add(time.Minute), bt.Subscription("sub_F", "cus_F", "active", false, itemF))
	if len(res.Licenses) != 1 {
		t.Fatalf("active = %+v", res)
	}
}

// A metered price on the subscription becomes its license's meter, which
// ends (the day after the paid period) when the price leaves the
// subscription; a meter naming no license of the subscription is refused.
func TestMeteredPricesBecomeMeters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	overage := bt.Item{ID: "si_M1", PriceID: "price_over", Quantity: 1, PeriodStart: t0, PeriodEnd: t1,
		Metadata: map[string]string{"meter": "overage", "meter_event_name": "seat_minutes_over", "product": "not-a-license"}}
	itemM := item5
	itemM.ID = "si_L1"
	res := f.apply("evt_m1", billing.EventSubscriptionCreated, t0, bt.Subscription("sub_M", "cus_M", "active", false, itemM, overage))
	if len(res.Licenses) != 1 {
		t.Fatalf("created = %+v (the metered price is no license)", res)
	}
	acc, err := f.accounts.Get(f.ctx, res.TenantID)
	if err != nil || len(acc.Meters) != 1 {
		t.Fatalf("meters = %+v, %v", acc.Meters, err)
	}
	m := acc.Meters[0]
	if m.Kind != "overage" || m.EventName != "seat_minutes_over" || m.PriceID != "price_over" || m.EndsOn != nil ||
		m.LicenseID != acc.Subscriptions[0].Items[0].LicenseID || !m.StartsOn.Equal(t0) {
		t.Fatalf("meter = %+v", m)
	}
	f.apply("evt_m2", billing.EventSubscriptionUpdated, t0.Add(time.Hour), bt.Subscription("sub_M", "cus_M", "active", false, itemM))
	if acc, err = f.accounts.Get(f.ctx, res.TenantID); err != nil || acc.Meters[0].EndsOn == nil || !acc.Meters[0].EndsOn.Equal(t1.AddDate(0, 0, 1)) {
		t.Fatalf("meter after its price left = %+v, %v", acc.Meters, err)
	}
	stray := overage
	stray.Metadata = map[string]string{"meter": "usage", "meter_event_name": "x", "meters_product": "nothing"}
	if res = f.apply("evt_m3", billing.EventSubscriptionUpdated, t0.Add(2*time.Hour), bt.Subscription("sub_M", "cus_M", "active", false, itemM, stray)); !strings.Contains(res.Outcome, "meters_product") {
		t.Fatalf("a meter of no license = %+v", res)
	}
}
