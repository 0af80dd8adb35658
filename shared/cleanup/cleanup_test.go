package cleanup_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/cleanup"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// fixture is a backend on the test Redis and a fresh database, with one
// tenant.
type fixture struct {
	t      *testing.T
	b      *backend.Backend
	prefix string
	tenant string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	b, prefix := testenv.Backend(t)
	ten, err := b.Tenants.Create(context.Background(), "Acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, b: b, prefix: prefix, tenant: ten.ID}
}

// license creates a license and writes it through to Redis; it returns its
// id and key.
func (f *fixture) license(seatCount, ttlSeconds int) (string, string) {
	f.t.Helper()
	ctx := context.Background()
	l, key, err := f.b.Licenses.Create(ctx, f.tenant, licenses.New{Product: "ide", Seats: seatCount, LeaseTTLSeconds: ttlSeconds, Leasing: "per_fingerprint"})
	if err != nil {
		f.t.Fatal(err)
	}
	sl, err := f.b.Licenses.SeatLicenseOf(ctx, l)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.b.Seats.SyncLicense(ctx, sl); err != nil {
		f.t.Fatal(err)
	}
	return l.ID, key
}

func (f *fixture) cleaner(limits cleanup.Limits) *cleanup.Cleaner {
	f.t.Helper()
	c, err := cleanup.New(f.b.Redis, f.prefix, f.b.Seats, f.b.Usage, f.b.Licensing, limits, slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// counts reads the ledger: events per kind, and sessions open and closed.
func counts(t *testing.T, db *database.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	rows, err := db.Pool.Query(context.Background(), `
		SELECT kind, count(*) FROM usage_events GROUP BY kind
		UNION ALL SELECT 'sessions', count(*) FROM usage_sessions
		UNION ALL SELECT 'open', count(*) FROM usage_sessions WHERE ended_at IS NULL
		UNION ALL SELECT 'duplicates', count(*) FROM (SELECT license_id, stream_id FROM usage_events
			GROUP BY 1, 2 HAVING count(*) > 1) d`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantCounts(t *testing.T, got map[string]int, want map[string]int) {
	t.Helper()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("ledger %s = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

func acquire(t *testing.T, e *seats.Engine, licenseID, key, fp string) (seats.Grant, error) {
	t.Helper()
	return e.Acquire(context.Background(), seats.AcquireRequest{LicenseID: licenseID, LicenseKey: key,
		Fingerprint: fp, Hostname: "host-" + fp, User: "ada", Repository: "git@github.com:Acme/Widget.git"})
}

func pendingEntries(t *testing.T, f *fixture, licenseID string) int {
	t.Helper()
	evs, err := f.b.Seats.Events(context.Background(), licenseID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// TestMain runs the child of TestKilledProcessLosesNoEvent when the test
// binary is started as one.
func TestMain(m *testing.M) {
	if os.Getenv("LEDGER_CHILD") == "1" {
		childAcquiresThenDies()
	}
	os.Exit(m.Run())
}

// childAcquiresThenDies changes seats and dies by SIGKILL before anything
// drains, reporting how many changes it made.
func childAcquiresThenDies() {
	fail := func(err error) {
		fmt.Println("CHILD ERROR", err)
		os.Exit(2)
	}
	opts, err := redis.ParseURL(testenv.RedisURL())
	if err != nil {
		fail(err)
	}
	rdb := redis.NewClient(opts)
	e, err := seats.New(rdb, os.Getenv("LEDGER_PREFIX"), func(context.Context, string) (seats.License, error) {
		return seats.License{}, errors.New("the child never loads licenses")
	})
	if err != nil {
		fail(err)
	}
	id, key := os.Getenv("LEDGER_LICENSE"), os.Getenv("LEDGER_KEY")
	changes := 0
	for i := 0; ; i++ {
		g, err := e.Acquire(context.Background(), seats.AcquireRequest{LicenseID: id, LicenseKey: key,
			Fingerprint: fmt.Sprint("child-", i)})
		if err != nil {
			fail(err)
		}
		changes++
		if i%2 == 0 {
			if _, err := e.Release(context.Background(), g.SessionID); err != nil {
				fail(err)
			}
			changes++
		}
		if i == 200 {
			// Report, then die the hard way: no deferred call, no flush.
			fmt.Printf("CHANGES %d\n", changes)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

func TestEverySeatEventReachesTheLedgerOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id, key := f.license(2, 1)

	a, err := acquire(t, f.b.Seats, id, key, "ws-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquire(t, f.b.Seats, id, key, "ws-a"); err != nil { // resumed: no event
		t.Fatal(err)
	}
	b, err := acquire(t, f.b.Seats, id, key, "ws-b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acquire(t, f.b.Seats, id, key, "ws-c"); !errors.Is(err, seats.ErrNoSeats) {
		t.Fatalf("third seat: %v", err)
	}
	if ok, err := f.b.Seats.Release(ctx, a.SessionID); !ok || err != nil {
		t.Fatalf("release: %v %v", ok, err)
	}
	_ = b // left to expire
	time.Sleep(1200 * time.Millisecond)

	observed := &observer{}
	c, err := cleanup.New(f.b.Redis, f.prefix, f.b.Seats, f.b.Usage, f.b.Licensing, cleanup.DefaultLimits(), slog.New(slog.DiscardHandler),
		cleanup.WithObserver(observed))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != 1 || res.Drained != 5 || !res.Complete {
		t.Fatalf("run = %+v, want 1 expired, 5 drained (acquired×2, denied, released, expired)", res)
	}
	// The first entries waited the 1.2 s above before this run read them.
	if res.Lag < time.Second || res.Lag > time.Minute {
		t.Errorf("lag = %v, want the oldest entry's wait, over a second", res.Lag)
	}
	if len(observed.runs) != 1 || observed.runs[0] != res || observed.err != nil {
		t.Errorf("observer told %+v (%v), want the run %+v", observed.runs, observed.err, res)
	}
	wantCounts(t, counts(t, f.b.DB), map[string]int{"acquired": 2, "denied": 1, "released": 1, "expired": 1,
		"sessions": 2, "open": 0, "duplicates": 0})
	// The expiry is recorded at the moment the lease ran out, not when the
	// sweep noticed.
	var endedAt time.Time
	var repo, reason string
	if err := f.b.DB.Pool.QueryRow(ctx, `SELECT s.ended_at, s.repository, d.reason FROM usage_sessions s, usage_events d
		WHERE s.end_kind = 'expired' AND d.kind = 'denied'`).Scan(&endedAt, &repo, &reason); err != nil {
		t.Fatal(err)
	}
	if d := endedAt.Sub(b.ExpiresAt); d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("expired at %v, lease ran out at %v", endedAt, b.ExpiresAt)
	}
	if repo != "github.com/Acme/Widget" || reason != "no_seats" {
		t.Errorf("repository %q (want normalised), denial reason %q", repo, reason)
	}
	if n := pendingEntries(t, f, id); n != 0 {
		t.Errorf("%d entries left in Redis after the drain", n)
	}
	// A second run finds nothing more.
	if res, err := f.cleaner(cleanup.DefaultLimits()).Run(ctx); err != nil || res.Drained != 0 || res.Expired != 0 {
		t.Fatalf("second run = %+v, %v", res, err)
	}
}

func TestDrainThatDiesAfterCommitStoresNothingTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id, key := f.license(5, 60)
	for i := range 4 {
		g, err := acquire(t, f.b.Seats, id, key, fmt.Sprint("ws-", i))
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := f.b.Seats.Release(ctx, g.SessionID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The first half of a drain: read and commit, then "die" before trimming.
	evs, err := f.b.Seats.Events(ctx, id, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.b.Usage.Record(ctx, id, evs); err != nil || n != 6 {
		t.Fatalf("record = %d, %v; want 6", n, err)
	}
	// The entries are still in Redis; the next drain stores them again.
	res, err := f.cleaner(cleanup.DefaultLimits()).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drained != 0 {
		t.Errorf("re-drained entries counted as new: %+v", res)
	}
	wantCounts(t, counts(t, f.b.DB), map[string]int{"acquired": 4, "released": 2, "sessions": 4, "open": 2, "duplicates": 0})
	if n := pendingEntries(t, f, id); n != 0 {
		t.Errorf("%d entries left in Redis", n)
	}
}

func TestKilledProcessLosesNoEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id, key := f.license(1000, 600)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LEDGER_CHILD=1", "LEDGER_PREFIX="+f.prefix, "LEDGER_LICENSE="+id, "LEDGER_KEY="+key)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die by SIGKILL: %v\n%s", err, out)
	}
	var changes int
	for _, line := range strings.Split(string(out), "\n") {
		if n, ok := strings.CutPrefix(line, "CHANGES "); ok {
			changes, _ = strconv.Atoi(n)
		}
	}
	if changes != 201+101 {
		t.Fatalf("child reported %d changes:\n%s", changes, out)
	}
	// A fresh process (this one, with its own cleaner) drains what the dead
	// one left.
	res, err := f.cleaner(cleanup.DefaultLimits()).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Drained != changes {
		t.Errorf("drained %d, want %d", res.Drained, changes)
	}
	wantCounts(t, counts(t, f.b.DB), map[string]int{"acquired": 201, "released": 101, "sessions": 201,
		"open": 100, "duplicates": 0})
}

func TestPostgresDownForALoadRunThenEveryEventOnce(t *testing.T) {
	t.Parallel()
	healthy := newFixture(t)
	ctx := context.Background()
	id, key := healthy.license(50, 600)

	// The same Redis and database, but PostgreSQL reached through a proxy
	// the test cuts.
	proxy := testenv.NewProxy(t, "127.0.0.1:5432")
	dbURL := strings.Replace(healthy.b.DB.Pool.Config().ConnString(), "127.0.0.1:5432", proxy.Addr, 1)
	if !strings.Contains(dbURL, proxy.Addr) {
		t.Fatalf("cannot route %s through the proxy", dbURL)
	}
	db, err := database.Open(ctx, dbURL+"&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	b, err := backend.New(healthy.b.Redis, db, healthy.prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	cleaner, err := cleanup.New(b.Redis, healthy.prefix, b.Seats, b.Usage, b.Licensing, cleanup.DefaultLimits(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}

	proxy.Down()
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[string]int{}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				g, err := acquire(t, b.Seats, id, key, fmt.Sprintf("w%d-%d", w, i%10))
				mu.Lock()
				switch {
				case err == nil && !g.Resumed:
					want["acquired"]++
				case errors.Is(err, seats.ErrNoSeats):
					want["denied"]++
				case err != nil:
					t.Error(err)
				}
				mu.Unlock()
				if err == nil && i%3 == 0 {
					if ok, err := b.Seats.Release(ctx, g.SessionID); err != nil {
						t.Error(err)
					} else if ok {
						mu.Lock()
						want["released"]++
						mu.Unlock()
					}
				}
			}
		}()
		if w == 3 {
			// A run during the load, with PostgreSQL down: it may find
			// entries to drain (and fail) or not yet; either way it must
			// neither lose nor store anything.
			_, _ = cleaner.Run(ctx)
		}
	}
	wg.Wait()
	if _, err := cleaner.Run(ctx); err == nil {
		t.Fatal("a run with PostgreSQL down reported success")
	}
	if got := counts(t, healthy.b.DB); got["acquired"] != 0 {
		t.Fatalf("events reached PostgreSQL through a cut proxy: %v", got)
	}
	proxy.Up()
	res, err := cleaner.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := want["acquired"] + want["denied"] + want["released"]
	if res.Drained != total || want["acquired"] == 0 || want["denied"] == 0 || want["released"] == 0 {
		t.Errorf("drained %d, want %d (%v)", res.Drained, total, want)
	}
	want["duplicates"] = 0
	wantCounts(t, counts(t, healthy.b.DB), want)
}

func TestOverlappingRunsCountNothingTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	ids := make([]string, 5)
	for i := range ids {
		var key string
		ids[i], key = f.license(100, 1)
		for j := range 60 {
			if _, err := acquire(t, f.b.Seats, ids[i], key, fmt.Sprint("ws-", j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(1100 * time.Millisecond)
	// Small batches, so runs interleave; several with the lock, and drains
	// racing them without it (as a run that outlived its lock would).
	limits := cleanup.Limits{Budget: time.Minute, ScanPage: 1, SweepBatch: 7, DrainBatch: 11}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var expired, drained, skipped int
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.cleaner(limits).Run(ctx)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			expired, drained = expired+res.Expired, drained+res.Drained
			if res.Skipped {
				skipped++
			}
			mu.Unlock()
		}()
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					d, err := f.cleaner(limits).DrainOnce(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					drained += d.Drained
					mu.Unlock()
					if d.Read == 0 {
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	// Whatever the interleaving, a final run leaves nothing behind.
	res, err := f.cleaner(limits).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expired, drained = expired+res.Expired, drained+res.Drained
	if skipped == 0 {
		t.Log("no run found the lock held (the runs did not overlap this time)")
	}
	if expired != 300 || drained != 600 {
		t.Errorf("expired %d (want 300), drained %d (want 600)", expired, drained)
	}
	wantCounts(t, counts(t, f.b.DB), map[string]int{"acquired": 300, "expired": 300, "sessions": 300, "open": 0, "duplicates": 0})
}

func TestRunIsBoundedAndResumes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for range 7 {
		id, key := f.license(3, 1)
		for j := range 3 {
			if _, err := acquire(t, f.b.Seats, id, key, fmt.Sprint("ws-", j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(1100 * time.Millisecond)
	// A budget already spent: each run does one page and stops, and the next
	// goes on from the saved cursor until the pass completes.
	limits := cleanup.Limits{Budget: time.Nanosecond, ScanPage: 1, SweepBatch: 100, DrainBatch: 100}
	total, runs := 0, 0
	for runs = 1; runs < 100; runs++ {
		res, err := f.cleaner(limits).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += res.Expired
		if res.Complete {
			break
		}
	}
	if total != 21 || runs < 2 {
		t.Errorf("swept %d in %d runs, want 21 in several", total, runs)
	}
}

func TestNewRefusesBadLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, l := range []cleanup.Limits{{}, {Budget: time.Second, ScanPage: 1, SweepBatch: 0, DrainBatch: 1}} {
		if _, err := cleanup.New(f.b.Redis, f.prefix, f.b.Seats, f.b.Usage, f.b.Licensing, l, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("limits %+v accepted", l)
		}
	}
	if _, err := cleanup.New(nil, f.prefix, f.b.Seats, f.b.Usage, f.b.Licensing, cleanup.DefaultLimits(), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("nil Redis accepted")
	}
	if _, err := cleanup.New(f.b.Redis, f.prefix, f.b.Seats, f.b.Usage, nil, cleanup.DefaultLimits(), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("nil reconciler accepted")
	}
}

// TestSweepOf100kSessionsRecordsEveryEventOnce fills 100 licenses with
// 1,000 sessions each, lets them all expire, and checks one cleanup run
// sweeps all 100,000 in bounded batches, drains the ledger, and records
// every event in PostgreSQL exactly once. That no Redis command of such a
// sweep takes 5 ms is a timing bound, judged by make bench-scale on a
// machine doing nothing else, not here (see BENCHMARKS.md).
func TestSweepOf100kSessionsRecordsEveryEventOnce(t *testing.T) {
	// Not parallel: it fills Redis with 100,000 sessions and keeps the
	// cores busy, so it runs alone rather than beside the tests that wait
	// on lock TTLs.
	ctx := context.Background()
	f := newFixture(t)
	rdb := f.b.Redis
	const licensesN, perLicense = 100, 1000
	ids, hashes := make([]string, licensesN), make([]string, licensesN)
	for i := range ids {
		var key string
		ids[i], key = f.license(perLicense, 2)
		hashes[i] = tokens.Hash(key)
	}
	// Sessions written with the acquire script, pipelined so the fill
	// takes seconds, not minutes.
	acquire := redis.NewScript(luaAcquire())
	if err := acquire.Load(ctx, rdb).Err(); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		base := f.prefix + "{" + id + "}:"
		keys := []string{base + "m", base + "l", base + "i", base + "u", base + "b", base + "e", base + "n", base + "o"}
		cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for j := range perLicense {
				// A session digest and a nonce, in their forms.
				acquire.EvalSha(ctx, p, keys, hashes[i], fmt.Sprint("ws-", j), fmt.Sprintf("%032x", j), "", "", "", "", "", 0, 0,
					fmt.Sprintf("%022d", j))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := cmds[len(cmds)-1].(*redis.Cmd).Val().([]any)[0]; got != "granted" {
			t.Fatalf("fill: %v", got)
		}
	}
	time.Sleep(2100 * time.Millisecond)
	start := time.Now()
	limits := cleanup.DefaultLimits()
	limits.Budget = 5 * time.Minute
	res, err := f.cleaner(limits).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != licensesN*perLicense || res.Drained != 2*licensesN*perLicense || !res.Complete {
		t.Fatalf("run = %+v, want 100000 expired and 200000 drained", res)
	}
	t.Logf("swept and drained 100,000 sessions in %v", time.Since(start))
	// Nothing is left in Redis: no session, no ledger entry.
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			base := f.prefix + "{" + id + "}:"
			p.ZCard(ctx, base+"l")
			p.XLen(ctx, base+"e")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cmds {
		if n := c.(*redis.IntCmd).Val(); n != 0 {
			t.Errorf("license %s: %d sessions or ledger entries left after the run", ids[i/2], n)
		}
	}
	wantCounts(t, counts(t, f.b.DB), map[string]int{"acquired": 100000, "expired": 100000, "open": 0, "duplicates": 0})
}

func luaAcquire() string { return lua.Load().Acquire.Source }

// TestCleanupOnRedisCluster runs the sweep and the drain on a private
// 3-master Redis Cluster: the licenses' keys spread over the slots, the
// registry, cursor and lock each in their own.
func TestCleanupOnRedisCluster(t *testing.T) {
	t.Parallel()
	cc := testenv.RedisCluster(t)
	b, err := backend.New(cc, testenv.Postgres(t), "lic:", slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	ten, err := b.Tenants.Create(context.Background(), "Acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, b: b, prefix: "lic:", tenant: ten.ID}
	for i := range 12 {
		id, key := f.license(10, 1)
		for j := range 5 {
			if _, err := acquire(t, b.Seats, id, key, fmt.Sprint("ws-", i, "-", j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(1100 * time.Millisecond)
	limits := cleanup.DefaultLimits()
	limits.ScanPage = 5 // several pages, so the saved cursor is used
	res, err := f.cleaner(limits).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != 60 || res.Drained != 120 || !res.Complete {
		t.Fatalf("run = %+v, want 60 expired and 120 drained", res)
	}
	wantCounts(t, counts(t, b.DB), map[string]int{"acquired": 60, "expired": 60, "open": 0, "duplicates": 0})
}

// observer records what a cleaner tells it.
type observer struct {
	runs []cleanup.Result
	err  error
}

func (o *observer) CleanupRun(res cleanup.Result, _ time.Duration, err error) {
	o.runs = append(o.runs, res)
	o.err = err
}

// slowFirstGet delays the first GET (a run's cursor read, made while it
// holds the lock) so a run lasts several lock TTLs.
type slowFirstGet struct {
	delay time.Duration
	once  atomic.Bool
}

func (h *slowFirstGet) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *slowFirstGet) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *slowFirstGet) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if cmd.Name() == "get" && h.once.CompareAndSwap(false, true) {
			time.Sleep(h.delay)
		}
		return next(ctx, cmd)
	}
}

// TestRunKeepsItsShortLock: the run lock lives only LockTTL unless its
// holder extends it, so a dead holder blocks the next run briefly; a live
// run extends it and keeps other runs out for as long as it lasts, then
// gives it back.
func TestRunKeepsItsShortLock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	const ttl = 150 * time.Millisecond
	limits := cleanup.DefaultLimits()
	limits.LockTTL = ttl

	slow := redis.NewClient(f.b.Redis.(*redis.Client).Options())
	t.Cleanup(func() { slow.Close() })
	slow.AddHook(&slowFirstGet{delay: 6 * ttl})
	long, err := cleanup.New(slow, f.prefix, f.b.Seats, f.b.Usage, f.b.Licensing, limits, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := long.Run(ctx)
		done <- err
	}()

	lockKey := f.prefix + "{cleanup}:lock"
	for wait := time.Now().Add(10 * time.Second); ; {
		if n, err := f.b.Redis.Exists(ctx, lockKey).Result(); err != nil || n == 1 {
			break
		}
		if time.Now().After(wait) {
			t.Fatal("the long run never took the lock")
		}
		time.Sleep(time.Millisecond)
	}
	other := f.cleaner(limits)
	checks := 0
	for deadline := time.Now().Add(5 * ttl); time.Now().Before(deadline); checks++ {
		pttl, err := f.b.Redis.PTTL(ctx, lockKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		if pttl <= 0 || pttl > ttl {
			t.Fatalf("while the run lasts the lock's TTL is %v, want (0, %v]", pttl, ttl)
		}
		if res, err := other.Run(ctx); err != nil || !res.Skipped {
			t.Fatalf("a second run while the first holds the lock: %+v, %v; want skipped", res, err)
		}
		time.Sleep(ttl / 5)
	}
	select {
	case err := <-done:
		t.Fatalf("the long run ended (%v) before the checks: the test proved nothing", err)
	default:
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, err := f.b.Redis.Exists(ctx, lockKey).Result(); err != nil || n != 0 {
		t.Fatalf("after the run the lock is still there: %d, %v", n, err)
	}
	if res, err := other.Run(ctx); err != nil || res.Skipped {
		t.Fatalf("a run after the first: %+v, %v; want it to run", res, err)
	}
	t.Logf("%d checks over %v with a %v lock", checks, 5*ttl, ttl)
}

// metaStatus reads the license status Redis holds ("" for none).
func (f *fixture) metaStatus(id string) string {
	f.t.Helper()
	v, err := f.b.Redis.HGet(context.Background(), f.prefix+"{"+id+"}:m", "status").Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		f.t.Fatal(err)
	}
	return v
}

// TestReconciliationMarkWaitsForEveryLicense: a run that cannot write one
// changed license through keeps its mark where it was, so the next run
// writes that license again instead of passing over it.
func TestReconciliationMarkWaitsForEveryLicense(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id, _ := f.license(5, 60)
	c := f.cleaner(cleanup.DefaultLimits())
	markKey := f.prefix + "{cleanup}:reconciled"
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mark, err := f.b.Redis.Get(ctx, markKey).Result()
	if err != nil {
		t.Fatalf("no mark after a complete run: %v", err)
	}

	// Suspended in PostgreSQL; Redis cannot take it (its metadata key holds
	// a value of the wrong type, so the sync script fails on it).
	suspended := "suspended"
	if _, err := f.b.Licenses.Update(ctx, f.tenant, id, licenses.Patch{Status: &suspended}); err != nil {
		t.Fatal(err)
	}
	meta := f.prefix + "{" + id + "}:m"
	if err := f.b.Redis.Set(ctx, meta, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), id) {
		t.Fatalf("a run that could not write %s through = %+v, %v; want an error naming it", id, res, err)
	}
	if !res.Complete {
		t.Errorf("the failed reconciliation stopped the sweep: %+v", res)
	}
	if got, err := f.b.Redis.Get(ctx, markKey).Result(); err != nil || got != mark {
		t.Fatalf("after a failed reconciliation the mark is %q (%v), want it kept at %q", got, err, mark)
	}

	// Redis can take it again, holding the stale active copy: the next run
	// writes the suspension through.
	if err := f.b.Redis.Del(ctx, meta).Err(); err != nil {
		t.Fatal(err)
	}
	if err := f.b.Redis.HSet(ctx, meta, "status", "active", "rev", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Run(ctx); err != nil || res.Reconciled == 0 {
		t.Fatalf("run after the failure = %+v, %v", res, err)
	}
	if got := f.metaStatus(id); got != "suspended" {
		t.Fatalf("Redis holds status %q after the run that followed a failed one, want suspended", got)
	}
}

// TestReconciliationFindsATransactionThatCommitsLate: a change whose
// transaction began before a run read and commits after it is written
// through by the next run. A mark kept as a time (the latest updated_at
// seen, or when the run read) would pass over it: its updated_at is when
// its transaction began, before that mark.
func TestReconciliationFindsATransactionThatCommitsLate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id, _ := f.license(5, 60)
	c := f.cleaner(cleanup.DefaultLimits())
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}

	tx, err := f.b.DB.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// A scope, as every change has: the outbox event the suspension
	// appends (schema/010) is refused without one.
	if _, err := tx.Exec(ctx, `SELECT app_enter_scope(NULL, true, NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `UPDATE licenses SET status = 'suspended', revision = revision + 1, updated_at = now()
		WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // the run reads after the change's updated_at
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.metaStatus(id); got != "active" {
		t.Fatalf("an uncommitted suspension reached Redis (status %q)", got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := c.Run(ctx); err != nil || res.Reconciled == 0 {
		t.Fatalf("run after the late commit = %+v, %v", res, err)
	}
	if got := f.metaStatus(id); got != "suspended" {
		t.Fatalf("after the late commit and a run, Redis holds status %q, want suspended", got)
	}
}

// countingAlerts passes the sampling on to the outbox, counting the calls,
// or fails it.
type countingAlerts struct {
	next  cleanup.SeatAlerts
	calls int
	fail  error
}

func (a *countingAlerts) TickSeatAlerts(ctx context.Context, now time.Time) (int, error) {
	a.calls++
	if a.fail != nil {
		return 0, a.fail
	}
	return a.next.TickSeatAlerts(ctx, now)
}

// TestRunDerivesSeatEvents: a denial on a full license reaches the outbox
// as seats.exhausted through the drain, once however many runs follow;
// each run samples the seats in use after its drain, and a failed
// sampling is the run's error.
func TestRunDerivesSeatEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id, key := f.license(1, 300)
	if _, err := acquire(t, f.b.Seats, id, key, "ws-a"); err != nil {
		t.Fatal(err)
	}
	if _, err := acquire(t, f.b.Seats, id, key, "ws-b"); !errors.Is(err, seats.ErrNoSeats) {
		t.Fatalf("second seat: %v", err)
	}
	store, err := outbox.NewStore(f.b.DB)
	if err != nil {
		t.Fatal(err)
	}
	alerts := &countingAlerts{next: store}
	c, err := cleanup.New(f.b.Redis, f.prefix, f.b.Seats, f.b.Usage, f.b.Licensing, cleanup.DefaultLimits(),
		slog.New(slog.DiscardHandler), cleanup.WithSeatAlerts(alerts))
	if err != nil {
		t.Fatal(err)
	}
	exhausted := func() int {
		t.Helper()
		var n int
		if err := f.b.DB.Pool.QueryRow(ctx, `SELECT count(*) FROM outbox_events WHERE type = 'seats.exhausted'
			AND payload -> 'license' ->> 'id' = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for run := 1; run <= 2; run++ {
		if res, err := c.Run(ctx); err != nil || res.Skipped {
			t.Fatalf("run %d: %+v %v", run, res, err)
		}
		if n := exhausted(); n != 1 {
			t.Fatalf("after run %d: %d seats.exhausted, want 1", run, n)
		}
		if alerts.calls != run {
			t.Fatalf("after run %d: sampled %d times", run, alerts.calls)
		}
	}
	alerts.fail = errors.New("sampling refused")
	if _, err := c.Run(ctx); !errors.Is(err, alerts.fail) {
		t.Fatalf("run with a failing sampling: %v", err)
	}
}
