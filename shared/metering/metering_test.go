package metering_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/metering"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/stripeclient"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/usage"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// ledger is the Ledger of a test: the oldest undrained entry per license.
type ledger struct {
	mu     sync.Mutex
	oldest map[string]time.Time
}

func (l *ledger) Oldest(context.Context, []string) (map[string]time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range l.oldest {
		out[k] = v
	}
	return out, nil
}

type fixture struct {
	t        *testing.T
	ctx      context.Context
	owner    *database.DB
	cleanup  *database.DB
	store    *usage.Store
	mock     *testenv.StripeMock
	sender   metering.StripeSender
	ledger   *ledger
	license  string
	tenant   string
	recorded int
}

// The day replayed by hand (2026-11-07, UTC), on a 2-seat license whose
// overage policy lets more in:
//
//	a 09:00–10:30 entitled                        90 min
//	b 09:10–11:00 entitled                       110 min
//	c 09:20–11:30 overage until 10:30 (then entitled: a freed its seat)
//	                                             130 min, 70 of them overage
//	d 09:40–10:15 overage                         35 min, all overage
//	e 10:45–11:15 overage                         30 min, all overage
//
// seat-minutes 90+110+130+35+30 = 395; overage 70+35+30 = 135.
var day = []seats.Event{
	start("a", "2026-11-07T09:00:00Z", false),
	start("b", "2026-11-07T09:10:00Z", false),
	start("c", "2026-11-07T09:20:00Z", true),
	{Kind: seats.EventOverageEntered, At: at("2026-11-07T09:20:00Z")},
	start("d", "2026-11-07T09:40:00Z", true),
	{Kind: seats.EventExpired, SessionRef: "d", At: at("2026-11-07T10:15:00Z")},
	{Kind: seats.EventReleased, SessionRef: "a", At: at("2026-11-07T10:30:00Z")},
	{Kind: seats.EventReclassified, SessionRef: "c", At: at("2026-11-07T10:30:00Z")},
	{Kind: seats.EventOverageExited, At: at("2026-11-07T10:30:00Z")},
	start("e", "2026-11-07T10:45:00Z", true),
	{Kind: seats.EventOverageEntered, At: at("2026-11-07T10:45:00Z")},
	{Kind: seats.EventReleased, SessionRef: "b", At: at("2026-11-07T11:00:00Z")},
	{Kind: seats.EventReleased, SessionRef: "e", At: at("2026-11-07T11:15:00Z")},
	{Kind: seats.EventOverageExited, At: at("2026-11-07T11:15:00Z")},
	{Kind: seats.EventReleased, SessionRef: "c", At: at("2026-11-07T11:30:00Z")},
}

const (
	wantUsage   = 395
	wantOverage = 135
)

func start(ref, when string, overage bool) seats.Event {
	return seats.Event{Kind: seats.EventAcquired, SessionRef: ref, At: at(when), Fingerprint: "ws-" + ref, Overage: overage}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	owner := testenv.Postgres(t)
	cleanup := testenv.OpenAs(t, owner, database.RoleCleanup)
	ts, err := tenants.NewStore(owner)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := licenses.NewStore(owner)
	if err != nil {
		t.Fatal(err)
	}
	ten, err := ts.Create(ctx, "acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := ls.Create(ctx, ten.ID, licenses.New{Product: "cad", Seats: 2, LeaseTTLSeconds: 60, Leasing: "per_fingerprint",
		OverageMode: seats.OverageUnlimited})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := usage.NewStore(owner)
	if err != nil {
		t.Fatal(err)
	}
	measure, err := usage.NewStore(cleanup)
	if err != nil {
		t.Fatal(err)
	}
	mock := testenv.NewStripeMock(t)
	client, err := stripeclient.New("sk_test_metering", mock.URL)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, owner: owner, cleanup: cleanup, store: measure, mock: mock,
		sender: metering.StripeSender{Client: client}, ledger: &ledger{oldest: map[string]time.Time{}}, license: l.ID, tenant: ten.ID}
	f.record(rec, day...)
	for _, kind := range []string{metering.KindUsage, metering.KindOverage} {
		if _, err := owner.Pool.Exec(ctx, `INSERT INTO billing_meters (license_id, tenant_id, kind, item_id, price_id, event_name,
			stripe_customer_id, starts_on) VALUES ($1, $2, $3, $4, $5, $6, 'cus_meter', '2026-11-07')`,
			l.ID, ten.ID, kind, "si_"+kind, "price_"+kind, "seat_minutes_"+kind); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) record(rec *usage.Store, evs ...seats.Event) {
	f.t.Helper()
	batch := append([]seats.Event(nil), evs...)
	for i := range batch {
		f.recorded++
		batch[i].LicenseID = f.license
		batch[i].ID = fmt.Sprintf("%d-0", f.recorded)
	}
	if n, err := rec.Record(f.ctx, f.license, batch); err != nil || n != len(batch) {
		f.t.Fatalf("record = %d, %v", n, err)
	}
}

func (f *fixture) reporter(s metering.Sender) *metering.Reporter {
	f.t.Helper()
	r, err := metering.New(f.cleanup, f.store, f.ledger, s, slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// sent sums the values Stripe was sent per meter event name, each
// identifier once (Stripe counts an identifier once), and counts the
// calls per identifier.
func (f *fixture) sent() (map[string]int64, map[string]int) {
	f.t.Helper()
	sum := map[string]int64{}
	calls := map[string]int{}
	for _, c := range f.mock.Calls(http.MethodPost, "/v1/billing/meter_events") {
		id := c.Form.Get("identifier")
		calls[id]++
		if calls[id] > 1 {
			continue
		}
		v, err := strconv.ParseInt(c.Form.Get("payload[value]"), 10, 64)
		if err != nil || c.Form.Get("payload[stripe_customer_id]") != "cus_meter" || c.IdempotencyKey != id {
			f.t.Fatalf("meter event %+v", c)
		}
		ts, _ := strconv.ParseInt(c.Form.Get("timestamp"), 10, 64)
		if d := time.Unix(ts, 0).UTC(); d.Before(at("2026-11-07T00:00:00Z")) || !d.Before(at("2026-11-08T00:00:00Z")) {
			f.t.Errorf("meter event %s dated %v, outside the day it measures", id, d)
		}
		sum[c.Form.Get("event_name")] += v
	}
	return sum, calls
}

func (f *fixture) wantSent(usageMin, overageMin int64) {
	f.t.Helper()
	sum, _ := f.sent()
	if sum["seat_minutes_usage"] != usageMin || sum["seat_minutes_overage"] != overageMin {
		f.t.Fatalf("sent %v, want usage %d and overage %d seat-minutes", sum, usageMin, overageMin)
	}
}

// A known day, replayed by hand: once complete and drained, its usage
// and overage are each sent once, equal to the ledger; a second run sends
// nothing.
func TestReportsAKnownDayOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.reporter(f.sender)
	// Not yet: the day ended less than an hour ago.
	if res, err := r.Run(f.ctx, at("2026-11-08T00:30:00Z")); err != nil || res.Sent != 0 {
		t.Fatalf("before the day settled: %+v, %v", res, err)
	}
	// Not yet: the ledger still holds an entry of the day in Redis.
	f.ledger.oldest[f.license] = at("2026-11-07T23:59:00Z")
	if res, err := r.Run(f.ctx, at("2026-11-08T02:00:00Z")); err != nil || res.Sent != 0 || res.Skipped == 0 {
		t.Fatalf("before the drain: %+v, %v", res, err)
	}
	// Drained (what waits is of the next day).
	f.ledger.oldest[f.license] = at("2026-11-08T01:00:00Z")
	res, err := r.Run(f.ctx, at("2026-11-08T02:00:00Z"))
	if err != nil || res.Sent != 2 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	f.wantSent(wantUsage, wantOverage)
	if res, err := r.Run(f.ctx, at("2026-11-08T03:00:00Z")); err != nil || res.Sent != 0 {
		t.Fatalf("a second run: %+v, %v", res, err)
	}
	_, calls := f.sent()
	if len(calls) != 2 {
		t.Fatalf("identifiers sent: %v", calls)
	}
	for id, n := range calls {
		if n != 1 {
			t.Errorf("%s sent %d times", id, n)
		}
	}
	// What was billed, as the Usage API shows it beside the measure (the
	// reader role): the day's seat-minutes in hours, 0 for a day of the
	// meter not reported yet, nothing before the meter started.
	reports, err := metering.NewReports(testenv.OpenAs(t, f.owner, database.RoleReader))
	if err != nil {
		t.Fatal(err)
	}
	billed, err := reports.Billed(f.ctx, f.tenant, at("2026-11-06T00:00:00Z"), at("2026-11-09T00:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	b := billed[metering.BilledDay{LicenseID: f.license, Day: at("2026-11-07T00:00:00Z")}]
	if b.SeatHours == nil || *b.SeatHours != wantUsage/60.0 || b.OverageSeatHours == nil || *b.OverageSeatHours != wantOverage/60.0 {
		t.Fatalf("billed 11-07 = %+v", b)
	}
	if b := billed[metering.BilledDay{LicenseID: f.license, Day: at("2026-11-08T00:00:00Z")}]; b.SeatHours == nil || *b.SeatHours != 0 {
		t.Fatalf("billed 11-08 = %+v", b)
	}
	if _, ok := billed[metering.BilledDay{LicenseID: f.license, Day: at("2026-11-06T00:00:00Z")}]; ok || len(billed) != 2 {
		t.Fatalf("billed = %v, want 11-07 and 11-08 only", billed)
	}
	// Later days are reported as they complete (nothing used: nothing sent).
	if res, err := r.Run(f.ctx, at("2026-11-10T02:00:00Z")); err != nil || res.Sent != 0 {
		t.Fatalf("empty days: %+v, %v", res, err)
	}
}

// Two runs at once send each quantity once.
func TestConcurrentRunsSendOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var wg sync.WaitGroup
	var errs [4]error
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = f.reporter(f.sender).Run(f.ctx, at("2026-11-08T02:00:00Z"))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		t.Fatal(err)
	}
	f.wantSent(wantUsage, wantOverage)
	_, calls := f.sent()
	for id, n := range calls {
		if n != 1 {
			t.Errorf("%s sent %d times by concurrent runs", id, n)
		}
	}
}

// crashing sends to Stripe, then fails as a process killed before it
// records the answer would.
type crashing struct {
	next  metering.Sender
	mu    sync.Mutex
	crash bool
}

func (c *crashing) Send(ctx context.Context, e metering.Event) error {
	if err := c.next.Send(ctx, e); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crash {
		c.crash = false
		return errors.New("crashed after Stripe's answer")
	}
	return nil
}

// A crash between reporting and recording: the row stays pending, the
// next run (once the claim ended) sends it again with the same identifier,
// which Stripe counts once, and marks it.
func TestCrashBetweenReportingAndRecording(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := &crashing{next: f.sender, crash: true}
	now := at("2026-11-08T02:00:00Z")
	if _, err := f.reporter(c).Run(f.ctx, now); err == nil || !strings.Contains(err.Error(), f.license) {
		t.Fatalf("the crashed run's error = %v, want one naming the license", err)
	}
	// Within the claim, another run leaves the claimed row alone.
	if _, err := f.reporter(f.sender).Run(f.ctx, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_, calls := f.sent()
	resent := ""
	for id, n := range calls {
		if n > 1 {
			resent = id
		}
	}
	if resent != "" {
		t.Fatalf("%s sent again while claimed", resent)
	}
	if _, err := f.reporter(f.sender).Run(f.ctx, now.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.wantSent(wantUsage, wantOverage)
	_, calls = f.sent()
	twice := 0
	for _, n := range calls {
		if n == 2 {
			twice++
		}
	}
	if len(calls) != 2 || twice != 1 {
		t.Fatalf("calls per identifier = %v, want two identifiers, the crashed one sent twice", calls)
	}
	var pending int
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT count(*) FROM billing_meter_reports WHERE status <> 'sent'`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("rows not sent = %d, %v", pending, err)
	}
}

// A late ledger entry for a day already reported is sent the next run as
// a correction (a new identifier), and only the difference.
func TestLateLedgerEntryIsACorrection(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.reporter(f.sender)
	if _, err := r.Run(f.ctx, at("2026-11-08T02:00:00Z")); err != nil {
		t.Fatal(err)
	}
	rec, err := usage.NewStore(f.owner)
	if err != nil {
		t.Fatal(err)
	}
	// An entitled session of an hour that reached PostgreSQL late.
	f.record(rec, start("late", "2026-11-07T20:00:00Z", false),
		seats.Event{Kind: seats.EventReleased, SessionRef: "late", At: at("2026-11-07T21:00:00Z")})
	res, err := r.Run(f.ctx, at("2026-11-08T03:00:00Z"))
	if err != nil || res.Sent != 1 {
		t.Fatalf("correction run: %+v, %v", res, err)
	}
	f.wantSent(wantUsage+60, wantOverage)
	var seq int
	var q int64
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT seq, quantity FROM billing_meter_reports WHERE kind = 'usage' ORDER BY seq DESC LIMIT 1`).
		Scan(&seq, &q); err != nil || seq != 2 || q != 60 {
		t.Fatalf("correction row = seq %d, %d min, %v", seq, q, err)
	}
}

// Stripe refusing or unreachable: the rows stay pending, the error names
// the license and day, and a later run sends them.
func TestStripeDownLeavesRowsPending(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	down, err := stripeclient.New("sk_test_metering", "http://127.0.0.1:9")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.reporter(metering.StripeSender{Client: down}).Run(f.ctx, at("2026-11-08T02:00:00Z"))
	if err == nil || !strings.Contains(err.Error(), f.license) || !strings.Contains(err.Error(), "2026-11-07") {
		t.Fatalf("error = %v", err)
	}
	var pending int
	if err := f.owner.Pool.QueryRow(f.ctx, `SELECT count(*) FROM billing_meter_reports WHERE status = 'pending'`).Scan(&pending); err != nil || pending != 2 {
		t.Fatalf("pending rows = %d, %v", pending, err)
	}
	if _, err := f.reporter(f.sender).Run(f.ctx, at("2026-11-08T02:05:00Z")); err != nil {
		t.Fatal(err)
	}
	f.wantSent(wantUsage, wantOverage)
}

// Days older than Stripe accepts are not reported.
func TestOldDaysAreNotReported(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if res, err := f.reporter(f.sender).Run(f.ctx, at("2026-12-20T02:00:00Z")); err != nil || res.Sent != 0 {
		t.Fatalf("run 43 days later: %+v, %v", res, err)
	}
	if sum, _ := f.sent(); len(sum) != 0 {
		t.Fatalf("sent %v", sum)
	}
}

func TestIdentifierIsStableAndShort(t *testing.T) {
	t.Parallel()
	d := at("2026-11-07T00:00:00Z")
	a := metering.Identifier("0194f0a0-0000-7000-8000-000000000001", metering.KindOverage, d, 12)
	if a != metering.Identifier("0194f0a0-0000-7000-8000-000000000001", metering.KindOverage, d, 12) || len(a) > 100 {
		t.Fatalf("identifier %q", a)
	}
	for _, other := range []string{
		metering.Identifier("0194f0a0-0000-7000-8000-000000000002", metering.KindOverage, d, 12),
		metering.Identifier("0194f0a0-0000-7000-8000-000000000001", metering.KindUsage, d, 12),
		metering.Identifier("0194f0a0-0000-7000-8000-000000000001", metering.KindOverage, d.AddDate(0, 0, 1), 12),
		metering.Identifier("0194f0a0-0000-7000-8000-000000000001", metering.KindOverage, d, 13),
	} {
		if other == a {
			t.Fatalf("two meter days share the identifier %q", a)
		}
	}
	if metering.Minutes(6.583333) != 395 || metering.Minutes(2.25) != 135 {
		t.Fatal("minutes")
	}
}
