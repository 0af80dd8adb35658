package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Mixed-version parameters: a few clients on a small license with a short
// lease, so that in a few seconds seats run out, leases lapse and the
// sweep ends them, all on both versions.
const (
	mixedClients  = 12
	mixedSeats    = 4
	mixedTTL      = 2 * time.Second
	mixedDuration = 10 * time.Second
	// mixedCleanupEvery is how often the test runs the cleanup (sweep and
	// ledger drain), on the two versions in turn.
	mixedCleanupEvery = 300 * time.Millisecond
	// mixedOldEnv, when set, names the old revision (any git revision)
	// instead of the last release.
	mixedOldEnv = "MIXED_VERSION_OLD"
)

// TestMixedVersions plays a rollout: the previous release's make run
// server (built from git, see testenv.LastRelease; MIXED_VERSION_OLD names another
// revision) and this tree's run side by side
// on one Redis key space and one PostgreSQL database that this tree's
// migrations made, as production runs old and new revisions of different
// functions while the pipeline, having migrated first, rolls out. The old
// server migrates at start as make run does, so it also shows that the
// old migrator accepts a database ahead of it (it applies nothing).
//
// The license (made through the old server, its ledger drained by both) is
// used by clients that acquire on one version, resume the same seat from
// the other, heartbeat and release on either at random, and sometimes walk
// away and let the lease run out. The cleanup runs on the two versions in
// turn, now and then on both at once. Checks:
//   - throughout, the sessions live in Redis (counted as the scripts count
//     them, on Redis's clock) and seats_used from either version never
//     exceed the seats; the clients never hold more seats at once either;
//   - a workstation's second acquire on the other version resumes its
//     session (both derive the same session id), and no lease ends early;
//   - at the end, with every lease run out and both versions' cleanup done,
//     PostgreSQL's ledger has, for every session granted, exactly one
//     acquired event and one closing event (released for a release the
//     client saw succeed, expired for a walk-away), nothing else and
//     nothing left in Redis, and one closed interval in usage_sessions.
func TestMixedVersions(t *testing.T) {
	root := testenv.GitOutput(t, ".", "rev-parse", "--show-toplevel")
	tag, commit, note, err := testenv.LastRelease(root)
	if v := os.Getenv(mixedOldEnv); v != "" {
		// Another old revision (say, the one in production now).
		tag, commit, note, err = v, testenv.GitOutput(t, root, "rev-parse", v+"^{commit}"), mixedOldEnv+" names the old revision", nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if note != "" {
		t.Log(note)
	}
	head := testenv.GitOutput(t, root, "rev-parse", "HEAD")
	started := time.Now()
	oldBin := releaseDevserver(t, root, commit)
	newBin := testenv.BuildMain(t, "devserver")
	t.Logf("old: %s (%.12s), new: this tree (HEAD %.12s%s); built in %v", tag, commit, head,
		map[bool]string{true: ", the release itself", false: ""}[head == commit], time.Since(started).Round(time.Millisecond))

	rdb, prefix := testenv.Redis(t)
	dbURL := testenv.PostgresURL(t) // every migration of this tree: the pipeline migrates first
	migrationsBefore := migrationRows(t, dbURL)
	env := []string{
		"REDIS_URL=" + testenv.RedisURL(), "REDIS_KEY_PREFIX=" + prefix, "DATABASE_URL=" + dbURL,
		"BOOTSTRAP_ADMIN_TOKEN=" + processToken, "SIGNING_LOCAL_KEY_PEM=" + rootKeyFile(t),
		"RATE_LIMIT_LICENSE=0", "LOG_LEVEL=warn",
		// The test runs the cleanup itself, on each version in turn.
		"CLEANUP_INTERVAL=1h",
	}
	old := newDevProcess(t, oldBin, env)
	old.start()
	cur := newDevProcess(t, newBin, env)
	cur.start()
	if after := migrationRows(t, dbURL); after != migrationsBefore {
		t.Fatalf("schema_migrations changed when the servers started:\nbefore %s\nafter  %s\nthe old release's migrator must leave a "+
			"database ahead of it alone", migrationsBefore, after)
	}
	servers := [2]*devProcess{old, cur}
	names := [2]string{"old", "new"}

	// Made through the old server: the new one must read what it wrote.
	tenant, _ := old.admin("POST", "/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"}, 201)["id"].(string)
	l := old.admin("POST", "/v1/tenants/"+tenant+"/licenses",
		map[string]any{"product": "coditect", "seats": mixedSeats, "lease_ttl_seconds": int(mixedTTL / time.Second)}, 201)
	licenseID, _ := l["id"].(string)
	key, _ := l["key"].(string)
	if tenant == "" || licenseID == "" || key == "" {
		t.Fatalf("tenant %q, license %v", tenant, l)
	}
	licensePath := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	liveKey, eventsKey := prefix+"{"+licenseID+"}:l", prefix+"{"+licenseID+"}:e"

	transport := &http.Transport{MaxConnsPerHost: 32, MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	obs := &mixedObservations{}
	var wg sync.WaitGroup
	for i := range mixedClients {
		wg.Go(func() { runMixedClient(ctx, client, servers, key, i, obs) })
	}
	// The seat invariant, watched while the load runs.
	var peakLive, peakUsed atomic.Int64
	wg.Go(func() { watchSeats(ctx, t, rdb, liveKey, client, servers, licensePath, &peakLive, &peakUsed) })
	// The cleanup, on the two versions in turn; every fifth run on both at
	// once (their lock lets one through).
	var cleanups [2]atomic.Int64
	cleanupDone := make(chan struct{})
	go func() {
		defer close(cleanupDone)
		tick := time.NewTicker(mixedCleanupEvery)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var both sync.WaitGroup
			for v := range servers {
				if v == n%2 || n%5 == 0 {
					both.Go(func() {
						if runCleanup(client, servers[v]) == nil {
							cleanups[v].Add(1)
						}
					})
				}
			}
			both.Wait()
		}
	}()
	time.Sleep(mixedDuration)
	stop()
	wg.Wait()
	<-cleanupDone

	// Every lease runs out; then the cleanup, in turn on both versions,
	// until Redis holds neither sessions nor ledger entries of the license.
	time.Sleep(mixedTTL + 500*time.Millisecond)
	for n, deadline := 0, time.Now().Add(30*time.Second); ; n++ {
		if err := runCleanup(client, servers[n%2]); err == nil {
			cleanups[n%2].Add(1)
		} else {
			t.Logf("cleanup on the %s server: %v", names[n%2], err)
		}
		live, err1 := rdb.ZCard(context.Background(), liveKey).Result()
		pending, err2 := rdb.XLen(context.Background(), eventsKey).Result()
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if live == 0 && pending == 0 && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cleanup left %d sessions and %d ledger entries in Redis after 30s\nold:\n%s\nnew:\n%s",
				live, pending, old.output(), cur.output())
		}
		time.Sleep(100 * time.Millisecond)
	}

	obs.mu.Lock()
	defer obs.mu.Unlock()
	t.Logf("%d acquires (%d granted: %d on old, %d on new; %d refused for want of a seat), %d resumes on the other version, "+
		"%d heartbeats, %d releases, %d walk-aways; cleanup ran %d times on old and %d on new; at most %d live in Redis "+
		"and %d seats_used seen", obs.acquires.Load(), len(obs.sessions), obs.grantedOn[0].Load(), obs.grantedOn[1].Load(),
		obs.noSeats.Load(), obs.resumes.Load(), obs.heartbeats.Load(), obs.releases.Load(), obs.walkAways.Load(),
		cleanups[0].Load(), cleanups[1].Load(), peakLive.Load(), peakUsed.Load())
	for i, u := range obs.unexpected {
		if i == 10 {
			t.Errorf("... and %d more", len(obs.unexpected)-10)
			break
		}
		t.Errorf("unexpected: %s", u)
	}

	// Not a vacuous pass: both versions granted, resumed, heartbeat and
	// cleaned; the license was full; leases ran out.
	for v := range servers {
		if obs.grantedOn[v].Load() == 0 || obs.resumedOn[v].Load() == 0 || obs.beatOn[v].Load() == 0 ||
			obs.releasedOn[v].Load() == 0 || cleanups[v].Load() == 0 {
			t.Errorf("the %s server granted %d, resumed %d, heartbeat %d, released %d and cleaned %d times: "+
				"it did not take part in everything", names[v], obs.grantedOn[v].Load(), obs.resumedOn[v].Load(),
				obs.beatOn[v].Load(), obs.releasedOn[v].Load(), cleanups[v].Load())
		}
	}
	if obs.noSeats.Load() == 0 || peakLive.Load() < mixedSeats {
		t.Errorf("%d refusals, at most %d sessions live: the license was never full", obs.noSeats.Load(), peakLive.Load())
	}
	if obs.walkAways.Load() == 0 {
		t.Error("no client let its lease run out")
	}

	// The clients' own view.
	var held []span
	for _, s := range obs.sessions {
		held = append(held, s.held...)
	}
	if peak, at := maxOverlap(held); peak > mixedSeats {
		t.Errorf("the clients held %d seats at once on %d (at %s)", peak, mixedSeats, at.Format(time.RFC3339Nano))
	}

	// The ledger, from PostgreSQL alone (nothing is left in Redis).
	ledger := readLedger(t, dbURL, rdb, licenseID, eventsKey)
	sessions, _, err := replaySessions(ledger)
	if err != nil {
		t.Fatalf("ledger: %v", err)
	}
	var intervals []span
	for _, s := range sessions {
		for _, iv := range s {
			intervals = append(intervals, iv.span)
		}
	}
	if peak, at := maxOverlap(intervals); peak > mixedSeats {
		t.Errorf("the ledger has %d sessions holding a seat at once on %d (at %s)", peak, mixedSeats, at.Format(time.RFC3339Nano))
	}
	kinds := map[string]map[string]int{} // session ref -> kind -> events
	for _, e := range ledger {
		if e.kind == "denied" {
			continue
		}
		if kinds[e.ref] == nil {
			kinds[e.ref] = map[string]int{}
		}
		kinds[e.ref][e.kind]++
	}
	for ref, k := range kinds {
		s, granted := obs.sessions[ref]
		closing := k["released"] + k["expired"]
		switch {
		case !granted:
			t.Errorf("session %s is in the ledger (%v) but no client was granted it", ref, k)
		case k["acquired"] != 1 || closing != 1 || len(k) != 2:
			t.Errorf("session %s (granted on the %s server) has events %v; want one acquired and one released or expired",
				ref, names[s.grantedOn], k)
		case s.released && k["released"] != 1:
			t.Errorf("session %s was released (the client saw a 200) but the ledger says %v", ref, k)
		case s.walkedAway && k["expired"] != 1:
			t.Errorf("session %s was left to run out but the ledger says %v", ref, k)
		}
	}
	for ref, s := range obs.sessions {
		if _, ok := kinds[ref]; !ok {
			t.Errorf("session %s, granted on the %s server, has no event in the ledger", ref, names[s.grantedOn])
		}
	}
	checkIntervalsClosed(t, dbURL, licenseID, obs.sessions)
	if t.Failed() {
		t.Logf("old server output (end):\n%s\nnew server output (end):\n%s", old.output(), cur.output())
	}
}

// checkIntervalsClosed checks usage_sessions, the intervals the drain
// derives from the events: one per session granted, closed.
func checkIntervalsClosed(t *testing.T, dbURL, licenseID string, granted map[string]*mixedSession) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT session_ref, ended_at IS NOT NULL, coalesce(end_kind, '')
		FROM usage_sessions WHERE license_id = $1`, licenseID)
	if err != nil {
		t.Fatal(err)
	}
	type interval struct {
		closed bool
		kind   string
	}
	byRef := map[string][]interval{}
	for rows.Next() {
		var ref string
		var iv interval
		if err := rows.Scan(&ref, &iv.closed, &iv.kind); err != nil {
			t.Fatal(err)
		}
		byRef[ref] = append(byRef[ref], iv)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for ref, ivs := range byRef {
		if _, ok := granted[ref]; !ok {
			t.Errorf("usage_sessions has session %s, which no client was granted", ref)
		}
		if len(ivs) != 1 || !ivs[0].closed {
			t.Errorf("usage_sessions has %+v for session %s; want one closed interval", ivs, ref)
		}
	}
	for ref := range granted {
		if _, ok := byRef[ref]; !ok {
			t.Errorf("session %s has no interval in usage_sessions", ref)
		}
	}
}

// runCleanup runs one sweep and drain on the server, as its schedule would.
func runCleanup(client *http.Client, d *devProcess) error {
	resp, err := client.Post(d.url()+"/internal/cleanup", "application/json", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("POST /internal/cleanup: %d", resp.StatusCode)
	}
	return nil
}

// liveCount counts the live sessions as lua/count.lua does: scores (lease
// ends, ms) after Redis's now.
var liveCount = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')`)

// watchSeats checks, until ctx ends, that neither Redis nor either
// version's API ever counts more live sessions than seats, and records the
// most each counted.
func watchSeats(ctx context.Context, t *testing.T, rdb *redis.Client, liveKey string, client *http.Client,
	servers [2]*devProcess, licensePath string, peakLive, peakUsed *atomic.Int64) {
	for n := 0; ctx.Err() == nil; n++ {
		live, err := liveCount.Run(ctx, rdb, []string{liveKey}).Int64()
		if err == nil {
			if live > mixedSeats {
				t.Errorf("%d sessions live in Redis on %d seats", live, mixedSeats)
			}
			if live > peakLive.Load() {
				peakLive.Store(live)
			}
		} else if ctx.Err() == nil {
			t.Errorf("counting live sessions: %v", err)
		}
		if n%5 == 0 {
			v := n / 5 % 2
			d := servers[v]
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url()+licensePath, nil)
			req.Header.Set("Authorization", "Bearer "+processToken)
			if resp, err := client.Do(req); err == nil {
				var l struct {
					SeatsUsed int64 `json:"seats_used"`
				}
				err := json.NewDecoder(resp.Body).Decode(&l)
				resp.Body.Close()
				switch {
				case err != nil || resp.StatusCode != http.StatusOK:
					t.Errorf("GET %s on the %s server: %d %v", licensePath, [2]string{"old", "new"}[v], resp.StatusCode, err)
				case l.SeatsUsed > mixedSeats:
					t.Errorf("the %s server says %d seats used of %d", [2]string{"old", "new"}[v], l.SeatsUsed, mixedSeats)
				case l.SeatsUsed > peakUsed.Load():
					peakUsed.Store(l.SeatsUsed)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(40 * time.Millisecond):
		}
	}
}

// mixedSession is what the clients know of one session, by its ledger ref.
type mixedSession struct {
	grantedOn int // 0: the old server, 1: the new
	// released: a release of it was answered 200; walkedAway: its client
	// let the lease run out.
	released, walkedAway bool
	held                 []span
}

// mixedObservations is what the clients saw; counts by version are
// indexed 0 (old) and 1 (new).
type mixedObservations struct {
	acquires, noSeats, resumes, heartbeats, releases, walkAways atomic.Int64
	grantedOn, resumedOn, beatOn, releasedOn                    [2]atomic.Int64
	mu                                                          sync.Mutex
	sessions                                                    map[string]*mixedSession
	unexpected                                                  []string
}

func (o *mixedObservations) odd(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.unexpected = append(o.unexpected, fmt.Sprintf(format, args...))
}

// session records a grant, or returns the session's record.
func (o *mixedObservations) session(id string, on int) *mixedSession {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sessions == nil {
		o.sessions = map[string]*mixedSession{}
	}
	ref := tokens.SessionDigest(id)
	s, ok := o.sessions[ref]
	if !ok {
		s = &mixedSession{grantedOn: on}
		o.sessions[ref] = s
	}
	return s
}

// update changes a session's record under the lock.
func (o *mixedObservations) update(s *mixedSession, f func(*mixedSession)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	f(s)
}

// runMixedClient is one workstation after another (a new fingerprint per
// session, so a walk-away never resumes): acquire on each version in turn;
// every third grant, acquire again on the other (it must resume the
// session); heartbeat one to three times, each on a random version;
// release on a random version, or one time in five walk away and let the
// lease run out. Until ctx ends.
func runMixedClient(ctx context.Context, client *http.Client, servers [2]*devProcess, key string, id int,
	o *mixedObservations) {
	pause := func(d time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
			return true
		}
	}
	jitter := func(base time.Duration) time.Duration { return base + mathrand.N(base/2+1) }
	grants := 0
	for n := 0; ctx.Err() == nil; n++ {
		fp := fmt.Sprintf("mixed-%02d-%04d", id, n)
		// The versions take turns, so both grant from the first round on.
		on := (id + n) % 2
		var got seatAnswer
		o.acquires.Add(1)
		c := post(client, servers[on].url(), "/v1/acquire", map[string]any{"license_key": key, "fingerprint": fp}, &got)
		switch {
		case c.err != nil:
			o.odd("acquire on %d: %v", on, c.err)
			pause(200 * time.Millisecond)
			continue
		case c.status == http.StatusConflict:
			o.noSeats.Add(1)
			pause(jitter(200 * time.Millisecond))
			continue
		case c.status != http.StatusOK:
			o.odd("acquire on %d: %d", on, c.status)
			pause(200 * time.Millisecond)
			continue
		}
		until, err := time.Parse(time.RFC3339, got.ExpiresAt)
		if err != nil || got.SessionID == "" {
			o.odd("acquire on %d: 200 without a session or expiry: %+v", on, got)
			continue
		}
		o.grantedOn[on].Add(1)
		s := o.session(got.SessionID, on)
		from := c.finished
		// let records the seat held from the grant until at (or the
		// lease's end, if that came first).
		let := func(at time.Time) {
			if at.After(until) {
				at = until
			}
			o.update(s, func(s *mixedSession) { s.held = append(s.held, span{from.Round(0), at.Round(0)}) })
		}
		session := map[string]any{"session_id": got.SessionID}
		if grants++; grants%3 == 1 {
			// The same workstation on the other version: the same seat.
			// (Every third grant, from each client's first: both versions
			// resume from the first round on.)
			other := 1 - on
			var again seatAnswer
			o.resumes.Add(1)
			c := post(client, servers[other].url(), "/v1/acquire", map[string]any{"license_key": key, "fingerprint": fp}, &again)
			switch {
			case c.err != nil || c.status != http.StatusOK:
				o.odd("second acquire of %s on %d: %d %v", fp, other, c.status, c.err)
			case again.SessionID != got.SessionID || !again.Resumed:
				o.odd("second acquire of %s on %d: session %q resumed %v, want the session granted on %d", fp, other,
					again.SessionID, again.Resumed, on)
			default:
				o.resumedOn[other].Add(1)
				if e, err := time.Parse(time.RFC3339, again.ExpiresAt); err == nil && e.After(until) {
					until = e
				}
			}
		}
		gone := false
		for beats := 1 + mathrand.N(3); beats > 0 && !gone; beats-- {
			if !pause(jitter(mixedTTL / 5)) {
				break
			}
			v := mathrand.N(2)
			var hb seatAnswer
			o.heartbeats.Add(1)
			c := post(client, servers[v].url(), "/v1/heartbeat", session, &hb)
			switch {
			case c.err != nil:
				o.odd("heartbeat on %d: %v", v, c.err)
			case c.status == http.StatusOK:
				o.beatOn[v].Add(1)
				if e, err := time.Parse(time.RFC3339, hb.ExpiresAt); err == nil && e.After(until) {
					until = e
				}
			case c.status == http.StatusNotFound:
				// Only a lease that has run out may be gone.
				if c.finished.Before(until) {
					o.odd("heartbeat on %d: 404 at %s, lease until %s", v, c.finished.Format(time.RFC3339Nano),
						until.Format(time.RFC3339Nano))
				}
				gone = true
			default:
				o.odd("heartbeat on %d: %d", v, c.status)
			}
		}
		if gone || ctx.Err() != nil {
			// Stopped mid-session: the lease runs out and the sweep ends it.
			let(until)
			o.update(s, func(s *mixedSession) { s.walkedAway = !gone })
			if !gone {
				o.walkAways.Add(1)
			}
			continue
		}
		if mathrand.N(5) == 0 {
			o.walkAways.Add(1)
			let(until)
			o.update(s, func(s *mixedSession) { s.walkedAway = true })
			pause(jitter(100 * time.Millisecond))
			continue
		}
		v := mathrand.N(2)
		let(time.Now())
		var rel map[string]any
		o.releases.Add(1)
		c = post(client, servers[v].url(), "/v1/release", session, &rel)
		switch {
		case c.err != nil:
			o.odd("release on %d: %v", v, c.err)
		case c.status == http.StatusOK:
			o.releasedOn[v].Add(1)
			o.update(s, func(s *mixedSession) { s.released = true })
		case c.status == http.StatusNotFound && c.finished.After(until):
			// Its lease ran out first: the sweep ends it.
		default:
			o.odd("release on %d: %d", v, c.status)
		}
		pause(jitter(100 * time.Millisecond))
	}
}

// migrationRows lists schema_migrations, for comparing before and after.
func migrationRows(t *testing.T, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows string
	if err := conn.QueryRow(ctx, `SELECT string_agg(version || ' ' || name || ' ' || applied_at, ', ' ORDER BY version)
		FROM schema_migrations`).Scan(&rows); err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	return rows
}

// releaseDevserver builds the devserver of commit from git (git archive
// into a temporary directory, then go build), without the race detector
// and with the flags testenv.BuildMain uses, so every dependency comes
// from the Go build cache the suite's other builds fill, and only this
// module's packages compile. The binary is kept in the system's temporary
// directory under the commit and Go version, and reused while it is there
// (a commit's source never changes).
func releaseDevserver(t *testing.T, root, commit string) string {
	t.Helper()
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatalf("go env GOVERSION: %v", err)
	}
	bin := filepath.Join(os.TempDir(), fmt.Sprintf("license-server-devserver-%s-%s", commit, strings.TrimSpace(string(goVersion))))
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o100 != 0 {
		t.Logf("the release's devserver, built before: %s", bin)
		return bin
	}
	src := t.TempDir()
	archive := exec.Command("git", "archive", "--format=tar", commit)
	archive.Dir = root
	extract := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	extract.Stdin = pipe
	var archiveErr, extractErr bytes.Buffer
	archive.Stderr, extract.Stderr = &archiveErr, &extractErr
	if err := extract.Start(); err != nil {
		t.Fatalf("starting tar: %v", err)
	}
	if err := archive.Run(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", commit, err, archiveErr.String())
	}
	if err := extract.Wait(); err != nil {
		t.Fatalf("extracting git archive %s: %v\n%s", commit, err, extractErr.String())
	}
	// Built beside its final place, then renamed into it, so a concurrent
	// run never sees half a binary.
	tmp, err := os.CreateTemp(filepath.Dir(bin), filepath.Base(bin)+".*")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	build := exec.Command("go", "build", "-buildvcs=false", "-o", tmp.Name(), "./functions/cmd/devserver")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the release's devserver (%s) from git: %v\n%s", commit, err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		t.Fatalf("placing the release's devserver: %v", err)
	}
	return bin
}
