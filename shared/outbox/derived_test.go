package outbox_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/usage"
)

// derived expects exactly the events of types (in order) to be new for
// the tenant, each with no actor (the service derived it), and returns
// their payloads.
func (e *env) derived(t *testing.T, tenant, what string, types ...string) []map[string]any {
	t.Helper()
	var events []outbox.Event
	for _, ev := range e.take(t, tenant) {
		if !e.ignore[ev.Type] {
			events = append(events, ev)
		}
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Type)
	}
	if fmt.Sprint(got) != fmt.Sprint(types) {
		t.Fatalf("%s: events %v; want %v", what, got, types)
	}
	out := make([]map[string]any, len(events))
	for i, ev := range events {
		if err := json.Unmarshal(ev.Payload, &out[i]); err != nil {
			t.Fatal(err)
		}
		if a, ok := out[i]["actor"]; !ok || a != nil {
			t.Errorf("%s: %s actor %v, want null", what, ev.Type, a)
		}
		if ev.DedupeKey == "" {
			t.Errorf("%s: %s has no dedupe key", what, ev.Type)
		}
	}
	return out
}

// ledger records events of license l as the cleanup's drain does (the
// cleanup role's backend), and returns how many were new.
func (e *env) ledger(t *testing.T, l string, events ...seats.Event) int {
	t.Helper()
	for i := range events {
		events[i].LicenseID = l
	}
	n, unknown, err := e.roles[database.RoleCleanup].Usage.RecordAll(e.ctx, []usage.Batch{{LicenseID: l, Events: events}})
	if err != nil || len(unknown) > 0 {
		t.Fatalf("recording %d ledger entries: %v (unknown %v)", len(events), err, unknown)
	}
	return n
}

func entry(at time.Time, seq int, kind, ref, reason, user string) seats.Event {
	return seats.Event{ID: fmt.Sprintf("%d-%d", at.UnixMilli(), seq), Kind: kind, SessionRef: ref, At: at,
		Reason: reason, User: user, Hostname: "host-" + user}
}

func (e *env) license(t *testing.T, tenant string, seatCount int, expires *time.Time) licenses.License {
	t.Helper()
	l, _, err := e.admin().Licenses.Create(e.ctx, tenant, licenses.New{Product: "cad", Seats: seatCount, LeaseTTLSeconds: 300,
		Leasing: licenses.PerFingerprint, ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	e.take(t, tenant) // license.created
	return l
}

// TestSeatsExhaustedOncePerHourFromTheDrain: the first denial for want of
// a seat is seats.exhausted; the next within the hour is not; one an hour
// later is. Other refusals are no shortage, and a replayed drain adds
// nothing.
func TestSeatsExhaustedOncePerHourFromTheDrain(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	l := e.license(t, tenant, 1, nil)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	batch := []seats.Event{
		entry(t0, 0, "acquired", "s1", "", "ada"),
		entry(t0.Add(time.Minute), 0, "denied", "", "blocked", "eve"),
		entry(t0.Add(2*time.Minute), 0, "denied", "", "no_seats", "bob"),
		entry(t0.Add(3*time.Minute), 0, "denied", "", "no_seats", "cy"),
	}
	if n := e.ledger(t, l.ID, batch...); n != 4 {
		t.Fatalf("drain stored %d, want 4", n)
	}
	p := e.derived(t, tenant, "a full license refuses bob, then cy", "seats.exhausted")[0]
	if field(p, "license", "id") != l.ID || p["user"] != "bob" || p["hostname"] != "host-bob" || p["seats"] != 1.0 ||
		p["in_use"] != 1.0 || p["denied_at"] != "2026-03-02T09:02:00+00:00" {
		t.Errorf("seats.exhausted payload %v", p)
	}
	// The drain died before trimming: the same entries again.
	if n := e.ledger(t, l.ID, batch...); n != 0 {
		t.Fatalf("replayed drain stored %d, want 0", n)
	}
	e.derived(t, tenant, "replayed drain")

	e.ledger(t, l.ID, entry(t0.Add(61*time.Minute), 0, "denied", "", "no_seats", "dan"))
	e.derived(t, tenant, "a denial 59 minutes after the last event's")
	e.ledger(t, l.ID, entry(t0.Add(62*time.Minute), 0, "denied", "", "no_seats", "fay"),
		entry(t0.Add(63*time.Minute), 0, "denied", "", "no_seats", "gus"))
	p = e.derived(t, tenant, "denials an hour after the last event's", "seats.exhausted")[0]
	if p["user"] != "fay" {
		t.Errorf("the hour's event is fay's denial, got %v", p["user"])
	}
}

// TestUtilizationHighAfterTenMinutesThenNormal: 90 % of the seats in use
// for 10 minutes is seats.utilization_high, once; dropping below is
// seats.utilization_normal, once; a short peak is nothing.
func TestUtilizationHighAfterTenMinutesThenNormal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	l := e.license(t, tenant, 2, nil)
	quiet := e.license(t, tenant, 10, nil)
	t0 := time.Now().UTC().Truncate(time.Second)
	tick := func(at time.Time, want int) {
		t.Helper()
		n, err := e.cleanup.TickSeatAlerts(e.ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		if n < want {
			t.Fatalf("tick at %v added %d events, want at least %d", at, n, want)
		}
	}

	e.ledger(t, quiet.ID, entry(t0, 0, "acquired", "q1", "", "zed"))
	e.ledger(t, l.ID, entry(t0, 0, "acquired", "s1", "", "ada"))
	tick(t0, 0)
	// A short peak: both seats for five minutes.
	e.ledger(t, l.ID, entry(t0.Add(time.Second), 0, "acquired", "s2", "", "bob"))
	tick(t0.Add(time.Minute), 0)
	tick(t0.Add(5*time.Minute), 0)
	e.ledger(t, l.ID, entry(t0.Add(6*time.Minute), 0, "released", "s2", "", "bob"))
	tick(t0.Add(6*time.Minute), 0)
	tick(t0.Add(20*time.Minute), 0)
	e.derived(t, tenant, "a five-minute peak")

	// Full from 21 minutes on.
	e.ledger(t, l.ID, entry(t0.Add(21*time.Minute), 0, "acquired", "s3", "", "cy"))
	tick(t0.Add(21*time.Minute), 0)
	tick(t0.Add(30*time.Minute), 0)
	e.derived(t, tenant, "nine minutes full")
	tick(t0.Add(31*time.Minute), 1)
	p := e.derived(t, tenant, "ten minutes full", "seats.utilization_high")[0]
	if field(p, "license", "id") != l.ID || p["seats"] != 2.0 || p["in_use"] != 2.0 || p["threshold_percent"] != 90.0 ||
		p["high_since"] == nil {
		t.Errorf("seats.utilization_high payload %v", p)
	}
	tick(t0.Add(32*time.Minute), 0)
	tick(t0.Add(50*time.Minute), 0)
	e.derived(t, tenant, "still full")

	e.ledger(t, l.ID, entry(t0.Add(51*time.Minute), 0, "expired", "s3", "", "cy"))
	tick(t0.Add(51*time.Minute), 1)
	p = e.derived(t, tenant, "one seat freed", "seats.utilization_normal")[0]
	if p["in_use"] != 1.0 || p["normal_at"] == nil {
		t.Errorf("seats.utilization_normal payload %v", p)
	}
	tick(t0.Add(52*time.Minute), 0)
	e.derived(t, tenant, "still below")
}

// TestExpiryNoticesOncePerThreshold: 30, 7 and 1 days before the end,
// each once however often the schedule runs; a license made late gets
// the threshold it is within, not the earlier ones; the end itself once;
// extending the license starts its notices over.
func TestExpiryNoticesOncePerThreshold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The runs go weeks ahead, past Mondays: the summaries are another
	// test's.
	e.ignore = map[string]bool{"usage.weekly_summary": true}
	tenant := e.tenant(t)
	now := time.Now().UTC().Truncate(time.Second)
	ends := now.Add(40 * 24 * time.Hour)
	l := e.license(t, tenant, 3, &ends)
	lateEnds := now.Add(5 * 24 * time.Hour)
	late := e.license(t, tenant, 3, &lateEnds)
	deleted := e.license(t, tenant, 3, &lateEnds)
	if _, err := e.admin().Licenses.Delete(e.ctx, tenant, deleted.ID); err != nil {
		t.Fatal(err)
	}
	e.take(t, tenant)

	run := func(at time.Time) {
		t.Helper()
		if _, err := e.cleanup.Schedule(e.ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	days := func(p map[string]any) string { return fmt.Sprintf("%v %v", field(p, "license", "id"), p["days"]) }

	run(now)
	run(now)
	got := e.derived(t, tenant, "now", "license.expiring")
	if days(got[0]) != late.ID+" 7" {
		t.Errorf("now: %s; want the late license's 7-day notice", days(got[0]))
	}
	run(now.Add(4*24*time.Hour + time.Hour))
	got = e.derived(t, tenant, "a day before the late license's end", "license.expiring")
	if days(got[0]) != late.ID+" 1" {
		t.Errorf("%s; want the late license's 1-day notice", days(got[0]))
	}
	run(now.Add(5*24*time.Hour + time.Minute))
	run(now.Add(5*24*time.Hour + 2*time.Minute))
	got = e.derived(t, tenant, "after the late license's end", "license.expired")
	if field(got[0], "license", "id") != late.ID || got[0]["expires_at"] == nil {
		t.Errorf("license.expired payload %v", got[0])
	}
	run(now.Add(10 * 24 * time.Hour))
	got = e.derived(t, tenant, "day 10", "license.expiring")
	if days(got[0]) != l.ID+" 30" {
		t.Errorf("day 10: %s; want the 30-day notice", days(got[0]))
	}
	run(now.Add(34 * 24 * time.Hour))
	if got = e.derived(t, tenant, "day 34", "license.expiring"); days(got[0]) != l.ID+" 7" {
		t.Errorf("day 34: %s", days(got[0]))
	}
	// Renewed for a year: its notices start over for the new end.
	renewed := ends.Add(365 * 24 * time.Hour)
	if _, err := e.admin().Licenses.Update(e.ctx, tenant, l.ID, licenses.Patch{ExpiresAt: &renewed}); err != nil {
		t.Fatal(err)
	}
	e.take(t, tenant)
	run(renewed.Add(-20 * 24 * time.Hour))
	if got = e.derived(t, tenant, "20 days before the renewed end", "license.expiring"); days(got[0]) != l.ID+" 30" {
		t.Errorf("renewed: %s", days(got[0]))
	}
	// An end found more than a week late is history, not news.
	run(renewed.Add(8 * 24 * time.Hour))
	e.derived(t, tenant, "eight days after the renewed end")
}

// TestWeeklySummaryMondayEightLocal: the summary goes on the first run at
// or after Monday 08:00 in the tenant's time zone, once, and sums the
// week before: peak seats, seat-hours, denials, top users.
func TestWeeklySummaryMondayEightLocal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.tenant(t)
	zone := "America/New_York"
	// As the admin API stores it (its validation of zones is its own test).
	if err := e.admin().DB.Tx(e.ctx, database.Tenant(tenant), func(tx pgx.Tx) error {
		_, err := tx.Exec(e.ctx, `INSERT INTO notification_settings (tenant_id, time_zone) VALUES ($1, $2)`, tenant, zone)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l := e.license(t, tenant, 4, nil)
	ny, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	// A week to come (the tenant is new: it had no week before), from a
	// Monday 00:00 to the next in New York.
	local := time.Now().In(ny)
	monday := time.Date(local.Year(), local.Month(), local.Day()+7-int((local.Weekday()+6)%7), 0, 0, 0, 0, ny)
	mon := monday.Add(10 * time.Hour)
	e.ledger(t, l.ID,
		entry(mon.Add(-2*time.Hour-time.Minute), 0, "acquired", "before", "", "old"), // in the week from 00:00 on
		entry(mon, 0, "acquired", "a", "", "ada"),
		entry(mon.Add(time.Minute), 0, "acquired", "b", "", "bob"),
		entry(mon.Add(2*time.Minute), 0, "denied", "", "no_seats", "cy"),
		entry(mon.Add(2*time.Minute), 1, "denied", "", "blocked", "eve"),
		entry(mon.Add(2*time.Hour), 0, "released", "a", "", "ada"),
		entry(mon.Add(3*time.Hour), 0, "released", "b", "", "bob"),
		entry(mon.Add(3*time.Hour), 1, "released", "before", "", "old"),
	)
	e.take(t, tenant)

	run := func(at time.Time) {
		t.Helper()
		if _, err := e.cleanup.Schedule(e.ctx, at); err != nil {
			t.Fatal(err)
		}
	}
	weekEnd := time.Date(monday.Year(), monday.Month(), monday.Day()+7, 0, 0, 0, 0, ny)
	next := weekEnd.Add(8 * time.Hour)
	run(next.Add(-time.Minute))
	e.derived(t, tenant, "Monday 07:59 in New York")
	run(next)
	run(next.Add(time.Minute))
	p := e.derived(t, tenant, "Monday 08:00 in New York", "usage.weekly_summary")[0]
	if p["time_zone"] != zone || p["week_start"] != monday.UTC().Format("2006-01-02T15:04:05+00:00") ||
		p["week_end"] != weekEnd.UTC().Format("2006-01-02T15:04:05+00:00") {
		t.Errorf("summary's week %v – %v (%v)", p["week_start"], p["week_end"], p["time_zone"])
	}
	lics, _ := p["licenses"].([]any)
	if len(lics) != 1 {
		t.Fatalf("summary licenses %v", p["licenses"])
	}
	s := lics[0].(map[string]any)
	if field(s, "license", "id") != l.ID || s["peak_seats"] != 3.0 || s["seats"] != 4.0 || s["denials"] != 1.0 {
		t.Errorf("summary of the license %v", s)
	}
	// old 07:59–13:00, ada 10:00–12:00, bob 10:01–13:00.
	wantHours := (5*60 + 1 + 2*60 + 2*60 + 59) / 60.0
	if h, _ := s["seat_hours"].(float64); h < wantHours-0.01 || h > wantHours+0.01 {
		t.Errorf("seat hours %v, want %.3f", s["seat_hours"], wantHours)
	}
	users, _ := p["top_users"].([]any)
	if len(users) != 3 || users[0].(map[string]any)["user"] != "old" || users[2].(map[string]any)["user"] != "ada" {
		t.Errorf("top users %v; want old, bob, ada", p["top_users"])
	}
	run(next.Add(24 * time.Hour))
	e.derived(t, tenant, "Tuesday")
}
