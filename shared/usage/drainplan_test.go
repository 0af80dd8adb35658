package usage_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/tenants"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/usage"
)

// openSessions is how many sessions the skewed license holds open in the
// ledger: one license with very many (a site license, or a drain that fell
// behind) is the case a plan made for small licenses gets wrong.
const openSessions = 100_000

// drainBatch is the drain's batch of one license (shared/cleanup reads 250
// stream entries per license per call).
const drainBatch = 250

// TestDrainBatchIsPlanStableUnderSkew: a drain batch of a license with
// 100,000 open sessions costs about what the same batch costs on a small
// license, even when every statement was first planned, and its plan cached
// by the connection, while the ledger was small. The cached generic plan of
// the interval UPDATE used to scan every open session of the license for
// each batch (12.6 s a batch at 300,000 open sessions, against milliseconds);
// the bound here is a ratio between the two licenses measured on the same
// connection in the same run, never an absolute time.
func TestDrainBatchIsPlanStableUnderSkew(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	// One connection, so every batch runs on the session whose statement
	// cache (and so whose cached plans) the warm-up filled.
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := database.Open(ctx, url+sep+"pool_max_conns=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
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
	ten, err := ts.Create(ctx, "skew", "skew", nil)
	if err != nil {
		t.Fatal(err)
	}
	newLicense := func() string {
		l, _, err := ls.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: openSessions, LeaseTTLSeconds: 60, Leasing: "per_fingerprint"})
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	small, big := newLicense(), newLicense()

	// A drain stream per license: every batch opens drainBatch/2 sessions
	// and closes as many opened by earlier batches, the steady state of a
	// busy license (the closes are the UPDATE of open intervals).
	seq := map[string]int{}
	open := map[string][]string{}
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	batch := func(license string) []seats.Event {
		evs := make([]seats.Event, 0, drainBatch)
		for len(evs) < drainBatch {
			seq[license]++
			n := seq[license]
			at := base.Add(time.Duration(n) * time.Millisecond)
			id := fmt.Sprintf("%d-0", n)
			if len(open[license]) > drainBatch && n%2 == 0 {
				ref := open[license][0]
				open[license] = open[license][1:]
				evs = append(evs, seats.Event{ID: id, LicenseID: license, Kind: seats.EventReleased, SessionRef: ref, At: at})
				continue
			}
			ref := fmt.Sprintf("%s-s%d", license[:8], n)
			open[license] = append(open[license], ref)
			evs = append(evs, seats.Event{ID: id, LicenseID: license, Kind: seats.EventAcquired, SessionRef: ref, At: at,
				User: "u", Fingerprint: "fp" + ref, Hostname: "h"})
		}
		return evs
	}
	record := func(license string) time.Duration {
		t.Helper()
		evs := batch(license)
		start := time.Now()
		if n, err := store.Record(ctx, license, evs); err != nil || n != len(evs) {
			t.Fatalf("record %s = %d, %v", license, n, err)
		}
		return time.Since(start)
	}

	// Warm-up while the ledger is small: well past the five executions
	// after which PostgreSQL may switch a prepared statement to a cached
	// generic plan. Then the baseline: both licenses' batches on the small
	// ledger.
	for range 12 {
		record(small)
		record(big)
	}
	const rounds = 9
	median := func(license string) time.Duration {
		ds := make([]time.Duration, rounds)
		for i := range ds {
			ds[i] = record(license)
		}
		slices.Sort(ds)
		return ds[rounds/2]
	}
	baseline := median(small)

	// The skew: 100,000 sessions of one license left open, written as the
	// drain would have written them (as the table's owner, below RLS).
	admin, err := database.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Pool.Exec(ctx, `
		INSERT INTO usage_sessions (license_id, session_ref, tenant_id, fingerprint, user_name, hostname, repository, started_at)
		SELECT $1, 'bulk-' || i, $2, 'fp' || i, 'u' || (i % 500), 'h', '', $3::timestamptz - make_interval(secs => i)
		FROM generate_series(1, $4::int) AS i`, big, ten.ID, base, openSessions); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.Pool.QueryRow(ctx, `SELECT count(*) FROM usage_sessions WHERE license_id = $1 AND ended_at IS NULL`, big).Scan(&n); err != nil || n < openSessions {
		t.Fatalf("open sessions of the skewed license = %d, %v", n, err)
	}

	// The same batches now: the skewed license's must cost what a batch
	// cost before (a plan that reads the license's open sessions is
	// hundreds of times slower), and so must the small license's (a plan
	// that reads the whole ledger would be slow for both). The bound is a
	// small factor: the indexes are a level deeper and their pages colder.
	skewed, other := median(big), median(small)
	t.Logf("median drain batch of %d events: %v on the small ledger; with %d sessions open on one license, %v for that license (%.2f×) and %v for another (%.2f×)",
		drainBatch, baseline, n, skewed, float64(skewed)/float64(baseline), other, float64(other)/float64(baseline))
	for _, c := range []struct {
		what string
		took time.Duration
	}{{"the license with them", skewed}, {"another license", other}} {
		if r := float64(c.took) / float64(baseline); r > 4 {
			t.Errorf("with %d sessions open on one license, a drain batch of %s took %.1f× a batch on the small ledger (%v against %v): the drain's plan is not stable under skew",
				n, c.what, r, c.took, baseline)
		}
	}
}
