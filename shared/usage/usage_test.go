package usage_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/seats"
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

// replay records a known sequence of seat events, as the drain would, in
// the batches given (a session's start and end in one batch or in two).
type replay struct {
	t     *testing.T
	store *usage.Store
	seq   map[string]int
}

func (r *replay) batch(licenseID string, evs ...seats.Event) {
	r.t.Helper()
	for i := range evs {
		r.seq[licenseID]++
		evs[i].LicenseID = licenseID
		evs[i].ID = fmt.Sprintf("%d-0", r.seq[licenseID])
	}
	if n, err := r.store.Record(context.Background(), licenseID, evs); err != nil || n != len(evs) {
		r.t.Fatalf("record = %d, %v", n, err)
	}
}

func start(ref, when, user, fp, repo string) seats.Event {
	return seats.Event{Kind: seats.EventAcquired, SessionRef: ref, At: at(when), User: user, Fingerprint: fp, Repository: repo}
}

func end(kind, ref, when string) seats.Event {
	return seats.Event{Kind: kind, SessionRef: ref, At: at(when)}
}

type fixture struct {
	store      *usage.Store
	tenant     string
	other      string
	l1, l2, l3 string
}

// newReplay builds two tenants and this sequence (all UTC):
//
//	license 1: s1 ada  ws-a 11-02 10:00 → released 12:30
//	           s2 bob  ws-b 11-02 11:00 → expired  11:45
//	           s3 bob  ws-b 11-02 12:30 → released 13:15 (takes s1's seat at the same instant)
//	           carol ws-c denied (no_seats) 11:30
//	license 2: s4 ada  ws-a 11-02 23:30 → released 11-03 01:30 (crosses midnight; two batches)
//	           s5 eve  ws-e 11-01 22:00 → revoked 11-02 00:30 (starts before the range)
//	license 3 (another tenant): s6 at 11-02 10:00 → 11:00, which no report of the first may show
func newReplay(t *testing.T) fixture {
	t.Helper()
	ctx := context.Background()
	db := testenv.Postgres(t)
	ts, err := tenants.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := licenses.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	store, err := usage.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	var f fixture
	f.store = store
	mk := func(slug string) string {
		ten, err := ts.Create(ctx, slug, slug, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ten.ID
	}
	lic := func(tenant string) string {
		l, _, err := ls.Create(ctx, tenant, licenses.New{Product: "ide", Seats: 2, LeaseTTLSeconds: 60, Leasing: "per_fingerprint"})
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	f.tenant, f.other = mk("acme"), mk("globex")
	f.l1, f.l2, f.l3 = lic(f.tenant), lic(f.tenant), lic(f.other)

	r := &replay{t: t, store: store, seq: map[string]int{}}
	r.batch(f.l1,
		start("s1", "2026-11-02T10:00:00Z", "ada", "ws-a", "git@github.com:Acme/One.git"),
		start("s2", "2026-11-02T11:00:00Z", "bob", "ws-b", ""),
		seats.Event{Kind: seats.EventDenied, At: at("2026-11-02T11:30:00Z"), User: "carol", Fingerprint: "ws-c", Reason: "no_seats"},
		end(seats.EventExpired, "s2", "2026-11-02T11:45:00Z"),
		end(seats.EventReleased, "s1", "2026-11-02T12:30:00Z"),
		start("s3", "2026-11-02T12:30:00Z", "bob", "ws-b", ""),
		end(seats.EventReleased, "s3", "2026-11-02T13:15:00Z"),
	)
	r.batch(f.l2,
		start("s5", "2026-11-01T22:00:00Z", "eve", "ws-e", ""),
		end(seats.EventRevoked, "s5", "2026-11-02T00:30:00Z"),
		start("s4", "2026-11-02T23:30:00Z", "ada", "ws-a", ""))
	r.batch(f.l2, end(seats.EventReleased, "s4", "2026-11-03T01:30:00Z"))
	r.batch(f.l3, start("s6", "2026-11-02T10:00:00Z", "ada", "ws-a", ""), end(seats.EventReleased, "s6", "2026-11-02T11:00:00Z"))
	return f
}

type want struct {
	key    string
	start  string
	peak   int
	hours  float64
	denied int
}

func check(t *testing.T, got []usage.Row, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d rows, want %d:\n%+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.Key != w.key || !g.BucketStart.Equal(at(w.start)) || g.PeakSeats != w.peak ||
			math.Abs(g.SeatHours-w.hours) > 1e-9 || g.Denials != w.denied {
			t.Errorf("row %d = {%s %s peak %d hours %v denied %d}, want %+v",
				i, g.Key, g.BucketStart.Format(time.RFC3339), g.PeakSeats, g.SeatHours, g.Denials, w)
		}
	}
}

func TestReportByLicenseAndDay(t *testing.T) {
	t.Parallel()
	f := newReplay(t)
	rows, err := f.store.Report(context.Background(), f.tenant, usage.Query{
		From: at("2026-11-02T00:00:00Z"), To: at("2026-11-04T00:00:00Z"), GroupBy: "license", Granularity: "day"})
	if err != nil {
		t.Fatal(err)
	}
	// By hand: license 1 on 11-02 holds s1 2.5 h + s2 0.75 h + s3 0.75 h =
	// 4 h, two at once from 11:00 to 11:45 (the 12:30 hand-over is not a
	// third), one denial. License 2 on 11-02: s5's last 0.5 h and s4's first
	// 0.5 h, never together; on 11-03 s4's last 1.5 h.
	rowsWant := []want{
		{f.l1, "2026-11-02T00:00:00Z", 2, 4, 1},
		{f.l2, "2026-11-02T00:00:00Z", 1, 1, 0},
		{f.l2, "2026-11-03T00:00:00Z", 1, 1.5, 0},
	}
	if f.l2 < f.l1 {
		rowsWant = append(rowsWant[1:], rowsWant[0])
	}
	check(t, rows, rowsWant)
}

func TestReportByUserAndHour(t *testing.T) {
	t.Parallel()
	f := newReplay(t)
	rows, err := f.store.Report(context.Background(), f.tenant, usage.Query{
		From: at("2026-11-02T10:00:00Z"), To: at("2026-11-02T14:00:00Z"), GroupBy: "user", Granularity: "hour"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, rows, []want{
		{"ada", "2026-11-02T10:00:00Z", 1, 1, 0},
		{"ada", "2026-11-02T11:00:00Z", 1, 1, 0},
		{"ada", "2026-11-02T12:00:00Z", 1, 0.5, 0},
		{"bob", "2026-11-02T11:00:00Z", 1, 0.75, 0},
		{"bob", "2026-11-02T12:00:00Z", 1, 0.5, 0},
		{"bob", "2026-11-02T13:00:00Z", 1, 0.25, 0},
		{"carol", "2026-11-02T11:00:00Z", 0, 0, 1},
	})
}

func TestReportByWorkstationAndRepositoryClipsToTheRange(t *testing.T) {
	t.Parallel()
	f := newReplay(t)
	// A range starting mid-bucket counts only what falls inside it.
	rows, err := f.store.Report(context.Background(), f.tenant, usage.Query{
		From: at("2026-11-02T12:00:00Z"), To: at("2026-11-02T23:45:00Z"), GroupBy: "workstation", Granularity: "day"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, rows, []want{
		{"ws-a", "2026-11-02T00:00:00Z", 1, 0.75, 0}, // s1 12:00–12:30, s4 23:30–23:45
		{"ws-b", "2026-11-02T00:00:00Z", 1, 0.75, 0}, // s3
	})
	rows, err = f.store.Report(context.Background(), f.tenant, usage.Query{
		From: at("2026-11-02T00:00:00Z"), To: at("2026-11-03T00:00:00Z"), GroupBy: "repository", Granularity: "day"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, rows, []want{
		{"", "2026-11-02T00:00:00Z", 1, 2.5, 1}, // s2, s3, s5, s4's first half hour, carol's denial
		{"github.com/Acme/One", "2026-11-02T00:00:00Z", 1, 2.5, 0},
	})
}

func TestRecordingAgainChangesNothing(t *testing.T) {
	t.Parallel()
	f := newReplay(t)
	q := usage.Query{From: at("2026-11-01T00:00:00Z"), To: at("2026-11-04T00:00:00Z"), GroupBy: "license", Granularity: "day"}
	before, err := f.store.Report(context.Background(), f.tenant, q)
	if err != nil {
		t.Fatal(err)
	}
	// The same entries once more (a drain that died before trimming).
	again := []seats.Event{
		{LicenseID: f.l1, ID: "1-0", Kind: seats.EventAcquired, SessionRef: "s1", At: at("2026-11-02T10:00:00Z")},
		{LicenseID: f.l1, ID: "5-0", Kind: seats.EventReleased, SessionRef: "s1", At: at("2026-11-02T12:30:00Z")},
	}
	if n, err := f.store.Record(context.Background(), f.l1, again); err != nil || n != 0 {
		t.Fatalf("record again = %d, %v; want 0 new", n, err)
	}
	after, err := f.store.Report(context.Background(), f.tenant, q)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatalf("report changed:\n%v\n%v", before, after)
	}
}

func TestOpenSessionCountsUntilNow(t *testing.T) {
	t.Parallel()
	f := newReplay(t)
	began := time.Now().Add(-2 * time.Hour).UTC()
	r := &replay{t: t, store: f.store, seq: map[string]int{f.l1: 100}}
	r.batch(f.l1, seats.Event{Kind: seats.EventAcquired, SessionRef: "open", At: began, User: "zed"})
	rows, err := f.store.Report(context.Background(), f.tenant, usage.Query{
		From: began.Add(-time.Hour), To: began.Add(4 * time.Hour), GroupBy: "user", Granularity: "hour"})
	if err != nil {
		t.Fatal(err)
	}
	var hours float64
	for _, row := range rows {
		if row.Key == "zed" {
			hours += row.SeatHours
		}
	}
	if hours < 1.99 || hours > 2.01 {
		t.Fatalf("open session counted %v h, want about 2 (until now): %+v", hours, rows)
	}
}

func TestTenantsSeeOnlyTheirOwnUsage(t *testing.T) {
	t.Parallel()
	f := newReplay(t)
	rows, err := f.store.Report(context.Background(), f.other, usage.Query{
		From: at("2026-11-02T00:00:00Z"), To: at("2026-11-03T00:00:00Z"), GroupBy: "license", Granularity: "day"})
	if err != nil {
		t.Fatal(err)
	}
	check(t, rows, []want{{f.l3, "2026-11-02T00:00:00Z", 1, 1, 0}})
	// Events of one license cannot be filed under another.
	_, err = f.store.Record(context.Background(), f.l1, []seats.Event{{LicenseID: f.l3, ID: "9-0", Kind: seats.EventDenied, At: time.Now()}})
	if err == nil {
		t.Fatal("a batch mixing licenses was recorded")
	}
	if _, err := f.store.Record(context.Background(), "00000000-0000-0000-0000-000000000000",
		[]seats.Event{{LicenseID: "00000000-0000-0000-0000-000000000000", ID: "1-0", Kind: seats.EventDenied, At: time.Now()}}); err == nil {
		t.Fatal("events of an unknown license were recorded")
	}
}

func TestQueryValidity(t *testing.T) {
	t.Parallel()
	from, to := at("2026-11-02T00:00:00Z"), at("2026-11-03T00:00:00Z")
	for _, q := range []usage.Query{
		{From: from, To: to, GroupBy: "tenant", Granularity: "day"},
		{From: from, To: to, GroupBy: "license", Granularity: "week"},
		{From: to, To: from, GroupBy: "license", Granularity: "day"},
		{From: from, To: from, GroupBy: "license", Granularity: "day"},
	} {
		if q.Valid() {
			t.Errorf("%+v is valid", q)
		}
	}
	if !(usage.Query{From: from, To: to, GroupBy: "repository", Granularity: "hour"}).Valid() {
		t.Error("a good query is invalid")
	}
}

// TestLingerAndReviveIntervals: a lingering seat counts until its linger
// ends, through a reattach; a revived session counts from its revival, not
// in the gap after it expired. The same sequence, drained in one batch or
// one entry per batch, gives the same figures, worked out by hand:
//
//	ada s7 ws-a: acquired 09:00, released into a linger 09:30, reattached
//	             09:40, released into a linger 10:00, linger ended 10:10:
//	             one interval 09:00–10:10 (09h: 1 h, 10h: 1/6 h)
//	bob s8 ws-b: acquired 09:15, expired 09:45, revived 09:50, released
//	             10:20: 09:15–09:45 and 09:50–10:20 (09h: 2/3 h, 10h: 1/3 h)
//
// By license: 09h 5/3 h, 10h 1/2 h, both with a peak of 2.
func TestLingerAndReviveIntervals(t *testing.T) {
	t.Parallel()
	linger := func(ev seats.Event) seats.Event { ev.Reason = seats.ReasonLinger; return ev }
	revived := start("s8", "2026-11-05T09:50:00Z", "bob", "ws-b", "")
	revived.Kind = seats.EventRevived
	sequence := []seats.Event{
		start("s7", "2026-11-05T09:00:00Z", "ada", "ws-a", ""),
		start("s8", "2026-11-05T09:15:00Z", "bob", "ws-b", ""),
		linger(end(seats.EventReleased, "s7", "2026-11-05T09:30:00Z")),
		end(seats.EventExpired, "s8", "2026-11-05T09:45:00Z"),
		end(seats.EventReattached, "s7", "2026-11-05T09:40:00Z"),
		revived,
		linger(end(seats.EventReleased, "s7", "2026-11-05T10:00:00Z")),
		end(seats.EventLingerEnded, "s7", "2026-11-05T10:10:00Z"),
		end(seats.EventReleased, "s8", "2026-11-05T10:20:00Z"),
	}
	r6 := func(h float64) float64 { return math.Round(h*1e6) / 1e6 }
	for name, per := range map[string]int{"one batch": len(sequence), "one entry per batch": 1, "three per batch": 3} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newReplay(t)
			r := &replay{t: t, store: f.store, seq: map[string]int{f.l1: 100}}
			for i := 0; i < len(sequence); i += per {
				r.batch(f.l1, append([]seats.Event(nil), sequence[i:min(i+per, len(sequence))]...)...)
			}
			q := usage.Query{From: at("2026-11-05T00:00:00Z"), To: at("2026-11-06T00:00:00Z"), GroupBy: "user", Granularity: "hour"}
			rows, err := f.store.Report(context.Background(), f.tenant, q)
			if err != nil {
				t.Fatal(err)
			}
			check(t, rows, []want{
				{"ada", "2026-11-05T09:00:00Z", 1, 1, 0},
				{"ada", "2026-11-05T10:00:00Z", 1, r6(1.0 / 6), 0},
				{"bob", "2026-11-05T09:00:00Z", 1, r6(2.0 / 3), 0},
				{"bob", "2026-11-05T10:00:00Z", 1, r6(1.0 / 3), 0},
			})
			q.GroupBy = "license"
			rows, err = f.store.Report(context.Background(), f.tenant, q)
			if err != nil {
				t.Fatal(err)
			}
			check(t, rows, []want{
				{f.l1, "2026-11-05T09:00:00Z", 2, r6(5.0 / 3), 0},
				{f.l1, "2026-11-05T10:00:00Z", 2, 0.5, 0},
			})
		})
	}
}

// TestOverageIntervals replays a license of 2 seats allowing 4 (absolute
// 2), in one batch, one entry per batch and three per batch, and checks the
// overage figures worked out by hand (2026-11-07, by license and hour):
//
//	a 09:00–10:30 entitled
//	b 09:10–11:00 entitled
//	c 09:20–11:30 overage until reclassified at 10:30 (a's release)
//	d 09:40–10:15 overage, expired (promotes nothing)
//	e 10:45–11:15 overage (b and c hold the seats)
//
//	09h: seat-hours a 60 + b 50 + c 40 + d 20 min = 17/6 h, peak 4 (09:40);
//	     overage c 40 + d 20 min = 1 h, peak 2 (09:40–10:00)
//	10h: a 30 + b 60 + c 60 + d 15 + e 15 min = 3 h, peak 4 (10:00–10:15);
//	     overage c 30 + d 15 + e 15 min = 1 h, peak 2 (10:00–10:15)
//	11h: c 30 + e 15 min = 3/4 h, peak 2; overage e 15 min = 1/4 h, peak 1
func TestOverageIntervals(t *testing.T) {
	t.Parallel()
	over := func(ev seats.Event) seats.Event { ev.Overage = true; return ev }
	edge := func(kind, when string) seats.Event { return seats.Event{Kind: kind, At: at(when)} }
	sequence := []seats.Event{
		start("a", "2026-11-07T09:00:00Z", "ada", "ws-a", ""),
		start("b", "2026-11-07T09:10:00Z", "bob", "ws-b", ""),
		over(start("c", "2026-11-07T09:20:00Z", "cy", "ws-c", "")),
		edge(seats.EventOverageEntered, "2026-11-07T09:20:00Z"),
		over(start("d", "2026-11-07T09:40:00Z", "di", "ws-d", "")),
		end(seats.EventExpired, "d", "2026-11-07T10:15:00Z"),
		end(seats.EventReleased, "a", "2026-11-07T10:30:00Z"),
		end(seats.EventReclassified, "c", "2026-11-07T10:30:00Z"),
		edge(seats.EventOverageExited, "2026-11-07T10:30:00Z"),
		over(start("e", "2026-11-07T10:45:00Z", "ed", "ws-e", "")),
		edge(seats.EventOverageEntered, "2026-11-07T10:45:00Z"),
		end(seats.EventReleased, "b", "2026-11-07T11:00:00Z"),
		end(seats.EventReleased, "e", "2026-11-07T11:15:00Z"),
		edge(seats.EventOverageExited, "2026-11-07T11:15:00Z"),
		end(seats.EventReleased, "c", "2026-11-07T11:30:00Z"),
	}
	r6 := func(h float64) float64 { return math.Round(h*1e6) / 1e6 }
	type overWant struct {
		start string
		peak  int
		hours float64
		opeak int
		ohrs  float64
	}
	wants := []overWant{
		{"2026-11-07T09:00:00Z", 4, r6(17.0 / 6), 2, 1},
		{"2026-11-07T10:00:00Z", 4, 3, 2, 1},
		{"2026-11-07T11:00:00Z", 2, 0.75, 1, 0.25},
	}
	for name, per := range map[string]int{"one batch": len(sequence), "one entry per batch": 1, "three per batch": 3} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newReplay(t)
			r := &replay{t: t, store: f.store, seq: map[string]int{f.l1: 100}}
			for i := 0; i < len(sequence); i += per {
				r.batch(f.l1, append([]seats.Event(nil), sequence[i:min(i+per, len(sequence))]...)...)
			}
			rows, err := f.store.Report(context.Background(), f.tenant, usage.Query{
				From: at("2026-11-07T00:00:00Z"), To: at("2026-11-08T00:00:00Z"), GroupBy: "license", Granularity: "hour"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(wants) {
				t.Fatalf("rows = %+v, want %d", rows, len(wants))
			}
			for i, w := range wants {
				g := rows[i]
				if g.Key != f.l1 || !g.BucketStart.Equal(at(w.start)) || g.PeakSeats != w.peak || g.SeatHours != w.hours ||
					g.PeakOverage != w.opeak || g.OverageSeatHours != w.ohrs {
					t.Errorf("row %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestOverageOfAnOpenInterval: an overage interval still open counts as
// overage up to now, and a reclassification drained after its acquired
// event ends its overage part there.
func TestOverageOfAnOpenInterval(t *testing.T) {
	t.Parallel()
	f := newReplay(t)
	r := &replay{t: t, store: f.store, seq: map[string]int{f.l1: 100}}
	began := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	ev := start("o1", began.Format(time.RFC3339), "ada", "ws-a", "")
	ev.Overage = true
	r.batch(f.l1, ev)
	q := usage.Query{From: began, To: began.Add(2 * time.Hour), GroupBy: "license", Granularity: "hour"}
	rows, err := f.store.Report(context.Background(), f.tenant, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].OverageSeatHours != 1 || rows[1].OverageSeatHours != 1 || rows[1].PeakOverage != 1 {
		t.Fatalf("open overage interval: %+v, want 1 overage hour in each bucket", rows)
	}
	r.batch(f.l1, seats.Event{Kind: seats.EventReclassified, SessionRef: "o1", At: began.Add(90 * time.Minute)})
	rows, err = f.store.Report(context.Background(), f.tenant, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].OverageSeatHours != 1 || rows[1].OverageSeatHours != 0.5 || rows[1].SeatHours != 1 {
		t.Fatalf("after the reclassification: %+v, want 1 then 0.5 overage hours (seat-hours unchanged)", rows)
	}
}

// TestBorrowIntervals: borrowed and borrow_extended keep a session's
// interval open (the seat counts offline), returned closes it, and the
// sweep's expired at the borrow's end closes the other (2026-11-09, by
// hour):
//
//	a ada 09:00 acquired, borrowed 09:10 until 11:00, extended 09:20 until
//	  12:00, returned 10:30
//	b bob 09:00 acquired, borrowed 09:30 until 10:45, expired 10:45
//
//	09h: a 60 + b 60 min = 2 h, peak 2; 10h: a 30 + b 45 min = 5/4 h, peak 2
func TestBorrowIntervals(t *testing.T) {
	t.Parallel()
	borrow := func(kind, ref, when, until string) seats.Event {
		ev := end(kind, ref, when)
		ev.BorrowedUntil = at(until)
		return ev
	}
	sequence := []seats.Event{
		start("a", "2026-11-09T09:00:00Z", "ada", "ws-a", ""),
		start("b", "2026-11-09T09:00:00Z", "bob", "ws-b", ""),
		borrow(seats.EventBorrowed, "a", "2026-11-09T09:10:00Z", "2026-11-09T11:00:00Z"),
		borrow(seats.EventBorrowExtended, "a", "2026-11-09T09:20:00Z", "2026-11-09T12:00:00Z"),
		borrow(seats.EventBorrowed, "b", "2026-11-09T09:30:00Z", "2026-11-09T10:45:00Z"),
		end(seats.EventReturned, "a", "2026-11-09T10:30:00Z"),
		end(seats.EventExpired, "b", "2026-11-09T10:45:00Z"),
	}
	for name, per := range map[string]int{"one batch": len(sequence), "one entry per batch": 1, "three per batch": 3} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newReplay(t)
			r := &replay{t: t, store: f.store, seq: map[string]int{f.l1: 100}}
			for i := 0; i < len(sequence); i += per {
				r.batch(f.l1, append([]seats.Event(nil), sequence[i:min(i+per, len(sequence))]...)...)
			}
			q := usage.Query{From: at("2026-11-09T00:00:00Z"), To: at("2026-11-10T00:00:00Z"), GroupBy: "user", Granularity: "hour"}
			rows, err := f.store.Report(context.Background(), f.tenant, q)
			if err != nil {
				t.Fatal(err)
			}
			check(t, rows, []want{
				{"ada", "2026-11-09T09:00:00Z", 1, 1, 0},
				{"ada", "2026-11-09T10:00:00Z", 1, 0.5, 0},
				{"bob", "2026-11-09T09:00:00Z", 1, 1, 0},
				{"bob", "2026-11-09T10:00:00Z", 1, 0.75, 0},
			})
			q.GroupBy = "license"
			rows, err = f.store.Report(context.Background(), f.tenant, q)
			if err != nil {
				t.Fatal(err)
			}
			check(t, rows, []want{
				{f.l1, "2026-11-09T09:00:00Z", 2, 2, 0},
				{f.l1, "2026-11-09T10:00:00Z", 2, 1.25, 0},
			})
		})
	}
	t.Run("a borrow event without its end is refused", func(t *testing.T) {
		t.Parallel()
		f := newReplay(t)
		ev := end(seats.EventBorrowed, "z", "2026-11-09T09:10:00Z")
		ev.LicenseID, ev.ID = f.l1, "900-0"
		if _, err := f.store.Record(context.Background(), f.l1, []seats.Event{ev}); err == nil {
			t.Fatal("a borrowed event with no borrowed_until was stored")
		}
	})
}
