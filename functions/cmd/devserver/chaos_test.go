package main

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/cmd/internal/server"
	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Chaos parameters. CHAOS_DURATION sets how long the load and the restarts
// run (make chaos runs minutes; make test runs the default).
const (
	chaosClients = 1000
	chaosSeats   = 10
	// chaosOverage seats more may be granted, of class overage: the
	// license's allowance is chaosSeats + chaosOverage.
	chaosOverage   = 2
	chaosAllowance = chaosSeats + chaosOverage
	chaosTTL       = 2 * time.Second
	// A released seat lingers a second (its client, back within two
	// seconds, takes it back about half the time); a session expired within two seconds is
	// revived by a heartbeat when a seat is free.
	chaosLinger = 1
	chaosRevive = 2
	// chaosMaxBorrow sessions may be borrowed at once (the policy's
	// max_concurrent); borrowing clients borrow for three to five seconds.
	chaosMaxBorrow = 2
	chaosDuration  = 20 * time.Second
	chaosPrefix    = "chaos:"
	// chaosGap is the calm between two restarts: long enough for clients to
	// come back and the license to fill up again.
	chaosGap = 2 * time.Second
)

// TestSeatInvariantUnderChaos: 1,000 clients (400 alone on their
// workstation, 600 as two processes of 300 workstations sharing its seat)
// loop acquire → heartbeats → release on a license of 10 seats and 2 more
// of overage with a two-second lease, while the test restarts make run's server (SIGTERM and
// SIGKILL) and Redis (SIGKILL). Redis keeps an append-only file fsynced
// before every answer, so a restart keeps every seat change a client was
// told of and the whole ledger; losing Redis's data is a different failure
// (sessions vanish, clients re-acquire) that TestRedisRestartedEmpty in
// functions/cmd/internal/e2e covers.
//
// The license lingers (a released seat counts a second more, and its
// client, back within two seconds, takes it back about half the time) and revives (half the
// clients whose lease ran out in a restart heartbeat it back if a seat is
// free, as the Go SDK does). It also lends: half the clients alone on
// their workstation borrow their seat for three to five seconds whenever
// they get one (at most 2 borrowed at once; beyond, they hold it as
// usual), and return it early with the device's proof half of those
// times.
//
// Then three independent checks, none using the server's own count:
//   - the ledger (every event, from PostgreSQL where the cleanup drained it
//     and from the stream for anything left) replayed on Redis's clock never
//     has more than the allowance, 12 seats, counted at once, live,
//     lingering, borrowed or revived, nor more than the 10 committed seats entitled
//     (a session is overage from an overage grant until it is reclassified
//     or ends); every session in it starts once, alternates between
//     holding a seat (acquired, revived) and not (expired, released,
//     revoked, linger ended, returned) and ends once, is borrowed only
//     while it holds one, never more than 2 at once, and the license enters
//     and exits overage alternately;
//   - every session a client was granted (a 200) is in that ledger, and
//     those sessions, on the ledger's times, never overlap more than 12 deep;
//   - the clients' own view (a seat is held from the grant's answer until
//     the client lets go or its last lease runs out; a seat two processes
//     share, while either holds it) never has more than 12 seats held at
//     once, and no lease ever ended early.
func TestSeatInvariantUnderChaos(t *testing.T) {
	duration := chaosDuration
	if v := os.Getenv("CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("CHAOS_DURATION must be a positive duration such as 3m, not %q", v)
		}
		duration = d
	}
	rp := testenv.RestartableRedis(t, true)
	dbURL := testenv.PostgresURL(t)
	d := newDevProcess(t, testenv.BuildMain(t, "devserver"), []string{
		"REDIS_URL=" + rp.URL(), "REDIS_KEY_PREFIX=" + chaosPrefix, "DATABASE_URL=" + dbURL,
		"BOOTSTRAP_ADMIN_TOKEN=" + processToken, "SIGNING_LOCAL_KEY_PEM=" + rootKeyFile(t),
		"RATE_LIMIT_LICENSE=0", "LOG_LEVEL=warn",
		// Sweeps and drains run all through the chaos, as in production.
		"CLEANUP_INTERVAL=1s",
	})
	d.start()
	licenseID, key := d.licenseWith(chaosSeats, int(chaosTTL/time.Second),
		map[string]any{"linger_seconds": chaosLinger, "revive_seconds": chaosRevive,
			"overage": map[string]any{"mode": "absolute", "value": chaosOverage},
			"borrow":  map[string]any{"max_seconds": 3600, "max_concurrent": chaosMaxBorrow}})

	transport := &http.Transport{MaxConnsPerHost: 128, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{Transport: transport, Timeout: 15 * time.Second}
	ctx, stopClients := context.WithCancel(context.Background())
	defer stopClients()
	obs := &observations{}
	var wg sync.WaitGroup
	for i := range chaosClients {
		// Two in five clients are alone on their workstation and name no
		// instance; the others are two processes of one workstation
		// sharing its seat, each its own holder.
		fp, instance := fmt.Sprintf("chaos-ws-%04d", i), ""
		if i >= chaosClients*2/5 {
			fp, instance = fmt.Sprintf("chaos-shared-%04d", i/2), fmt.Sprintf("proc-%04d", i)
		}
		revives := i%2 == 0
		borrows := instance == "" && i%2 == 1
		wg.Go(func() { runChaosClient(ctx, client, d.url(), key, fp, instance, revives, borrows, obs) })
	}

	// The chaos: a restart every chaosGap, cycling through the kinds.
	actions := []struct {
		name string
		do   func()
	}{
		{"devserver SIGTERM", func() {
			d.signal(syscall.SIGTERM)
			if err := d.wait(server.Defaults().ShutdownTimeout + 15*time.Second); err != nil {
				t.Errorf("devserver exit after SIGTERM under load: %v, want status 0", err)
			}
			d.start()
		}},
		{"redis SIGKILL", func() {
			rp.Kill()
			// Down longer than go-redis retries a call for: clients get 503s.
			time.Sleep(1500 * time.Millisecond)
			rp.Start()
		}},
		{"devserver SIGKILL", func() {
			d.signal(syscall.SIGKILL)
			_ = d.wait(15 * time.Second) // "signal: killed", as asked
			d.start()
		}},
	}
	// Each kind at least once, however short CHAOS_DURATION is.
	done := map[string]int{}
	end := time.Now().Add(duration)
	for i := 0; i < len(actions) || time.Now().Before(end); i++ {
		time.Sleep(chaosGap)
		a := actions[i%len(actions)]
		a.do()
		done[a.name]++
	}
	time.Sleep(chaosGap) // the load goes on after the last restart too
	stopClients()
	wg.Wait()
	t.Logf("restarts: %v", done)

	// Let every lease run out, then sweep and drain until Redis holds
	// neither sessions nor ledger entries of the license.
	time.Sleep(chaosTTL + 500*time.Millisecond)
	rdb := redis.NewClient(&redis.Options{Addr: rp.Addr()})
	t.Cleanup(func() { rdb.Close() })
	liveKey, eventsKey := chaosPrefix+"{"+licenseID+"}:l", chaosPrefix+"{"+licenseID+"}:e"
	// A cleanup run cut short by a SIGKILL (of the server, or of Redis as
	// it unlocks) leaves its lock for the lock's TTL, a run's budget plus a
	// minute: by design, runs are skipped until then. The killed servers run
	// nothing now, so the test removes the lock rather than wait that out.
	lockKey := chaosPrefix + "{cleanup}:lock"
	if left, err := rdb.TTL(context.Background(), lockKey).Result(); err == nil && left > 0 {
		t.Logf("a cleanup lock is held for %v more; removing it", left)
		if err := rdb.Del(context.Background(), lockKey).Err(); err != nil {
			t.Fatal(err)
		}
	}
	finalStart := time.Now()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, err := http.Post(d.url()+"/internal/cleanup", "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
		live, _ := rdb.ZCard(context.Background(), liveKey).Result()
		pending, _ := rdb.XLen(context.Background(), eventsKey).Result()
		if live == 0 && pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cleanup left %d sessions and %d ledger entries in Redis after 60s\n%s", live, pending, d.output())
		}
	}

	t.Logf("final sweep and drain took %v", time.Since(finalStart))
	ledger := readLedger(t, dbURL, rdb, licenseID, eventsKey)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	t.Logf("%d acquires attempted (%d granted, %d refused for want of a seat), %d heartbeats, %d releases; "+
		"%d transport errors, %d 503s; ledger: %d events", obs.acquires.Load(), len(obs.granted), obs.noSeats.Load(),
		obs.heartbeats.Load(), obs.releases.Load(), obs.transportErrs.Load(), obs.unavailable.Load(), len(ledger))

	// Not a vacuous pass.
	if obs.acquires.Load() < chaosClients {
		t.Fatalf("only %d acquires attempted; want at least %d", obs.acquires.Load(), chaosClients)
	}
	if len(ledger) == 0 || len(obs.granted) < chaosSeats || obs.noSeats.Load() == 0 {
		t.Fatalf("ledger %d events, %d grants, %d refusals: the license was never contended",
			len(ledger), len(obs.granted), obs.noSeats.Load())
	}
	for i, u := range obs.unexpected {
		if i == 10 {
			t.Errorf("... and %d more", len(obs.unexpected)-10)
			break
		}
		t.Errorf("unexpected answer: %s", u)
	}
	for i, e := range obs.earlyLoss {
		if i == 10 {
			t.Errorf("... and %d more", len(obs.earlyLoss)-10)
			break
		}
		t.Errorf("a lease ended early: %s", e)
	}

	// 1. The ledger alone.
	sessions, borrowed, err := replaySessions(ledger)
	if err != nil {
		t.Fatalf("ledger: %v", err)
	}
	// Borrowing: never more than the policy's max_concurrent at once, and
	// exercised (borrows, returns, borrows that ran out).
	if peak, at := maxOverlap(borrowed); peak > chaosMaxBorrow {
		t.Errorf("the ledger has %d sessions borrowed at once, max_concurrent %d (at %s)", peak, chaosMaxBorrow,
			at.Format(time.RFC3339Nano))
	}
	t.Logf("borrows: %d asked, %d granted, %d refused at the limit, %d returned early (clients); %d borrowed intervals in the ledger",
		obs.borrowsAsked.Load(), obs.borrowed.Load(), obs.borrowLimited.Load(), obs.returned.Load(), len(borrowed))
	var all, entitled []span
	intervals, overageIntervals := 0, 0
	for _, s := range sessions {
		for _, iv := range s {
			all = append(all, iv.span)
			intervals++
			if e, ok := iv.entitled(); ok {
				entitled = append(entitled, e)
			}
			if iv.overage {
				overageIntervals++
			}
		}
	}
	peak, at := maxOverlap(all)
	peakEntitled, atEntitled := maxOverlap(entitled)
	kinds := map[string]int{}
	for _, e := range ledger {
		kinds[e.kind]++
	}
	t.Logf("ledger: %d sessions in %d intervals (%d granted as overage), at most %d seats counted at once (at %s) "+
		"and %d entitled (at %s); events %v; %d revivals seen by clients", len(sessions), intervals, overageIntervals,
		peak, at.Format(time.RFC3339Nano), peakEntitled, atEntitled.Format(time.RFC3339Nano), kinds, obs.revived.Load())
	// Not vacuous: sessions lingered and were taken back. (Revivals need a
	// lease to run out in a restart while a seat is free, which a full
	// license rarely has: they are counted, not required; the seat tests
	// cover them.)
	if kinds["borrowed"] == 0 || kinds["returned"] == 0 || obs.borrowLimited.Load() == 0 ||
		int64(kinds["returned"]) < obs.returned.Load() {
		t.Errorf("ledger: %d borrowed, %d returned; clients: %d borrows refused at the limit, %d returns: borrowing was not exercised",
			kinds["borrowed"], kinds["returned"], obs.borrowLimited.Load(), obs.returned.Load())
	}
	if kinds["linger_ended"] == 0 || kinds["reattached"] == 0 {
		t.Errorf("no linger ended (%d) or no lingering seat was taken back (%d): linger was not exercised",
			kinds["linger_ended"], kinds["reattached"])
	}
	if int64(kinds["revived"]) < obs.revived.Load() {
		t.Errorf("clients saw %d revivals, the ledger records %d", obs.revived.Load(), kinds["revived"])
	}
	if peak > chaosAllowance {
		t.Errorf("the ledger has %d sessions live at once on an allowance of %d (at %s)", peak, chaosAllowance, at.Format(time.RFC3339Nano))
	}
	if peak < chaosAllowance {
		t.Errorf("the ledger never shows the license full (peak %d): the load proved nothing", peak)
	}
	if peakEntitled > chaosSeats {
		t.Errorf("the ledger has %d sessions entitled at once on %d seats (at %s)", peakEntitled, chaosSeats,
			atEntitled.Format(time.RFC3339Nano))
		// What to look at: the sessions entitled then, and their events.
		for ref, s := range sessions {
			for _, iv := range s {
				if e, ok := iv.entitled(); ok && !e.from.After(atEntitled) && e.to.After(atEntitled) {
					t.Logf("entitled at that instant: %s, held %s to %s, granted as overage %v, reclassified %s", ref,
						iv.from.Format(time.RFC3339Nano), iv.to.Format(time.RFC3339Nano), iv.overage,
						iv.reclassified.Format(time.RFC3339Nano))
					for _, ev := range ledger {
						if ev.ref == ref {
							t.Logf("  %s %s %s at %s", ev.id, ev.kind, ev.reason, ev.at.Format(time.RFC3339Nano))
						}
					}
				}
			}
		}
	}
	// Not vacuous: overage was granted, and seats freed under it moved it
	// to the oldest overage session.
	if overageIntervals == 0 || kinds["reclassified"] == 0 || kinds["overage_entered"] == 0 {
		t.Errorf("%d overage grants, %d reclassified, %d overage_entered: overage was not exercised",
			overageIntervals, kinds["reclassified"], kinds["overage_entered"])
	}

	// 2. What the clients were granted, on the ledger's times.
	var seen []span
	missing := 0
	for ref := range obs.granted {
		s, ok := sessions[ref]
		if !ok {
			missing++
			continue
		}
		for _, iv := range s {
			seen = append(seen, iv.span)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d sessions granted to clients are not in the ledger (lost events)", missing, len(obs.granted))
	}
	if peak, at := maxOverlap(seen); peak > chaosAllowance {
		t.Errorf("%d sessions granted to clients were live at once per the ledger (at %s)", peak, at.Format(time.RFC3339Nano))
	}

	// 3. The clients' own view: a seat two processes share is one seat,
	// held while either holds it.
	var heldSeats []span
	holdings := 0
	for _, spans := range obs.held {
		holdings += len(spans)
		heldSeats = append(heldSeats, union(spans)...)
	}
	if peak, at := maxOverlap(heldSeats); peak > chaosAllowance {
		t.Errorf("%d seats were held with a valid lease at once (at %s)", peak, at.Format(time.RFC3339Nano))
	} else {
		t.Logf("clients: %d holdings of %d sessions (%d acquires joined a seat another process held), at most %d seats at once",
			holdings, len(obs.held), obs.sharedGrants.Load(), peak)
	}
	if obs.sharedGrants.Load() == 0 {
		t.Error("no process ever joined a seat another process of its workstation held: the shared seats were not exercised")
	}
	if t.Failed() {
		t.Logf("devserver output (end):\n%s", d.output())
	}
}

// rootKeyFile writes an RSA-4096 key for the server's restarts to share,
// so each start skips generating one.
func rootKeyFile(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 4096)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "root.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// span is the time a seat was held: [from, to).
type span struct{ from, to time.Time }

// maxOverlap is the most intervals covering one instant, and that instant.
// Where one ends as another starts, the one ending is gone first: a lease
// is live while its expiry is after now, as the scripts count.
func maxOverlap(spans []span) (int, time.Time) {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, s := range spans {
		edges = append(edges, edge{s.from, +1}, edge{s.to, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if !edges[i].at.Equal(edges[j].at) {
			return edges[i].at.Before(edges[j].at)
		}
		return edges[i].delta < edges[j].delta
	})
	live, peak := 0, 0
	var at time.Time
	for _, e := range edges {
		live += e.delta
		if live > peak {
			peak, at = live, e.at
		}
	}
	return peak, at
}

// union merges overlapping or touching spans into the disjoint spans that
// cover the same instants.
func union(spans []span) []span {
	sorted := append([]span(nil), spans...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].from.Before(sorted[j].from) })
	var out []span
	for _, s := range sorted {
		if n := len(out); n > 0 && !s.from.After(out[n-1].to) {
			if s.to.After(out[n-1].to) {
				out[n-1].to = s.to
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// ledgerEvent is one seat event as the scripts recorded it.
type ledgerEvent struct {
	id, kind, ref, reason string
	at                    time.Time
	// overage: an acquired event granting a seat of class overage.
	overage bool
}

// readLedger reads every event of the license: what the cleanup moved to
// PostgreSQL and what may still be in the Redis stream, once each.
func readLedger(t *testing.T, dbURL string, rdb *redis.Client, licenseID, eventsKey string) []ledgerEvent {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT stream_id, kind, session_ref, reason, at, overage FROM usage_events WHERE license_id = $1`, licenseID)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]ledgerEvent{}
	for rows.Next() {
		var e ledgerEvent
		if err := rows.Scan(&e.id, &e.kind, &e.ref, &e.reason, &e.at, &e.overage); err != nil {
			t.Fatal(err)
		}
		byID[e.id] = e
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	left, err := rdb.XRange(ctx, eventsKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range left {
		str := func(k string) string { s, _ := m.Values[k].(string); return s }
		ms, err := strconv.ParseInt(str("at"), 10, 64)
		if err != nil {
			t.Fatalf("ledger entry %s has no time: %v", m.ID, m.Values)
		}
		byID[m.ID] = ledgerEvent{id: m.ID, kind: str("t"), ref: str("s"), reason: str("r"), at: time.UnixMilli(ms),
			overage: str("c") == "o"}
	}
	out := make([]ledgerEvent, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	// In the order the scripts wrote them (stream ids: ms-seq).
	slices.SortFunc(out, func(a, b ledgerEvent) int { return cmpStreamID(t, a.id, b.id) })
	return out
}

// cmpStreamID orders two stream ids.
func cmpStreamID(t *testing.T, a, b string) int {
	parse := func(id string) [2]int64 {
		ms, seq, ok := strings.Cut(id, "-")
		m, err1 := strconv.ParseInt(ms, 10, 64)
		n, err2 := strconv.ParseInt(seq, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			t.Fatalf("bad stream id %q", id)
		}
		return [2]int64{m, n}
	}
	x, y := parse(a), parse(b)
	if c := cmp.Compare(x[0], y[0]); c != 0 {
		return c
	}
	return cmp.Compare(x[1], y[1])
}

// replaySessions turns the ledger, in stream order, into the intervals in
// which each session counted against the seats, on Redis's clock: from
// acquired or revived to expired, released (not into a linger), revoked or
// linger_ended; a release into a linger and a reattach do not interrupt it
// (the seat counts on). It checks that every session is acquired once,
// alternates between counting and not, never ends before it started, and
// ends (every lease has run out and been swept by now).
//
// An interval granted as overage is overage until the session's
// reclassified event (which must come while it is open and overage) or its
// end; only an acquire grants overage (a revival takes a free committed
// seat). overage_entered and overage_exited must alternate, starting with
// entered, and the license must have left overage at the end.
//
// A session is borrowed from its borrowed event (while it counts; a
// borrow_extended only while borrowed) until its interval ends, which only
// returned (borrowed only) or expired (at the borrow's end) may do: no
// release, linger or revoke ends a borrow. It returns the borrowed spans
// too.
func replaySessions(events []ledgerEvent) (map[string][]seatInterval, []span, error) {
	out := map[string][]seatInterval{}
	// Sessions borrowed now, since when; and the spans they were borrowed.
	borrowedSince := map[string]time.Time{}
	var borrowed []span
	open := map[string]time.Time{} // sessions counting now, since when
	ended := map[string]bool{}     // sessions whose last interval closed
	lingering := map[string]bool{} // released into a linger, not ended
	// The open intervals granted as overage: not yet reclassified (zero)
	// or reclassified then.
	overage := map[string]time.Time{}
	inOverage := false // between overage_entered and overage_exited
	for _, e := range events {
		switch e.kind {
		case "overage_entered", "overage_exited":
			if (e.kind == "overage_entered") == inOverage {
				return nil, nil, fmt.Errorf("%s (%s) while the license was %s overage", e.kind, e.id,
					map[bool]string{true: "already in", false: "not in"}[inOverage])
			}
			inOverage = !inOverage
			continue
		case "reclassified":
			r, ok := overage[e.ref]
			if _, counting := open[e.ref]; !counting || !ok || !r.IsZero() {
				return nil, nil, fmt.Errorf("session %s reclassified (%s) while it holds no overage seat", e.ref, e.id)
			}
			if e.at.Before(open[e.ref]) {
				return nil, nil, fmt.Errorf("session %s reclassified at %s before it was granted at %s", e.ref, e.at, open[e.ref])
			}
			overage[e.ref] = e.at
			continue
		}
		switch e.kind {
		case "acquired", "revived":
			_, known := out[e.ref]
			if e.kind == "acquired" && known {
				return nil, nil, fmt.Errorf("session %s acquired twice", e.ref)
			}
			if e.kind == "revived" && (!known || !ended[e.ref]) {
				return nil, nil, fmt.Errorf("session %s revived (%s) without having expired", e.ref, e.id)
			}
			if _, dup := open[e.ref]; dup {
				return nil, nil, fmt.Errorf("session %s opened twice (%s)", e.ref, e.id)
			}
			open[e.ref] = e.at
			ended[e.ref] = false
			if e.overage {
				if e.kind != "acquired" {
					return nil, nil, fmt.Errorf("session %s %s (%s) as overage", e.ref, e.kind, e.id)
				}
				overage[e.ref] = time.Time{}
			}
			if !known {
				out[e.ref] = nil
			}
		case "borrowed", "borrow_extended":
			// Only a session holding a seat is borrowed; the seat's interval
			// goes on until it is returned or the borrow runs out.
			if _, ok := open[e.ref]; !ok {
				return nil, nil, fmt.Errorf("session %s: %s (%s) while it holds no seat", e.ref, e.kind, e.id)
			}
			_, already := borrowedSince[e.ref]
			if (e.kind == "borrowed") == already {
				return nil, nil, fmt.Errorf("session %s: %s (%s) while it was %v borrowed", e.ref, e.kind, e.id, already)
			}
			if !already {
				borrowedSince[e.ref] = e.at
			}
			continue
		case "released", "expired", "revoked", "linger_ended", "reattached", "returned":
			from, ok := open[e.ref]
			if !ok {
				return nil, nil, fmt.Errorf("session %s: %s (%s) while it holds no seat", e.ref, e.kind, e.id)
			}
			switch {
			case e.kind == "released" && e.reason == "linger":
				if lingering[e.ref] {
					return nil, nil, fmt.Errorf("session %s released twice into a linger (%s)", e.ref, e.id)
				}
				lingering[e.ref] = true
				continue
			case e.kind == "reattached":
				if !lingering[e.ref] {
					return nil, nil, fmt.Errorf("session %s reattached (%s) without lingering", e.ref, e.id)
				}
				lingering[e.ref] = false
				continue
			case e.kind == "linger_ended" && !lingering[e.ref]:
				return nil, nil, fmt.Errorf("session %s: linger_ended (%s) without a linger", e.ref, e.id)
			}
			since, wasBorrowed := borrowedSince[e.ref]
			switch {
			case e.kind == "returned" && !wasBorrowed:
				return nil, nil, fmt.Errorf("session %s returned (%s) without being borrowed", e.ref, e.id)
			case wasBorrowed && e.kind != "returned" && e.kind != "expired":
				return nil, nil, fmt.Errorf("session %s: %s (%s) while borrowed", e.ref, e.kind, e.id)
			case wasBorrowed:
				borrowed = append(borrowed, span{since, e.at})
				delete(borrowedSince, e.ref)
			}
			if e.at.Before(from) {
				return nil, nil, fmt.Errorf("session %s ended at %s before it started at %s", e.ref, e.at, from)
			}
			iv := seatInterval{span: span{from, e.at}}
			if r, ok := overage[e.ref]; ok {
				iv.overage, iv.reclassified = true, r
				delete(overage, e.ref)
			}
			out[e.ref] = append(out[e.ref], iv)
			delete(open, e.ref)
			ended[e.ref], lingering[e.ref] = true, false
		case "denied":
		default:
			return nil, nil, fmt.Errorf("event %s of unknown kind %q", e.id, e.kind)
		}
	}
	for ref := range open {
		return nil, nil, fmt.Errorf("session %s never ended", ref)
	}
	if inOverage {
		return nil, nil, errors.New("the license never exited overage, though every session ended")
	}
	return out, borrowed, nil
}

// seatInterval is one span a session counted, and its class.
type seatInterval struct {
	span
	// overage: granted as overage; reclassified is when it became
	// entitled (zero: it ended as overage).
	overage      bool
	reclassified time.Time
}

// entitled is the part of the interval the session held a committed seat.
func (iv seatInterval) entitled() (span, bool) {
	if !iv.overage {
		return iv.span, true
	}
	if iv.reclassified.IsZero() || !iv.reclassified.Before(iv.to) {
		return span{}, false
	}
	return span{iv.reclassified, iv.to}, true
}

// observations is what the clients saw.
type observations struct {
	acquires, noSeats, heartbeats, releases, transportErrs, unavailable atomic.Int64
	// revived counts heartbeats that took back a session whose lease had
	// run out.
	revived atomic.Int64
	// sharedGrants counts acquires that joined a seat another process of
	// the workstation held (resumed, with an instance named).
	sharedGrants atomic.Int64
	// Borrowing: requests sent, borrows granted, refused at
	// max_concurrent, and returned early (answered 200).
	borrowsAsked, borrowed, borrowLimited, returned atomic.Int64

	mu      sync.Mutex
	granted map[string]bool // ledger refs of the sessions clients were granted
	// held is the clients' own view of when they held a seat, per session
	// (its ledger ref): the processes sharing a seat each hold it.
	held       map[string][]span
	unexpected []string
	earlyLoss  []string
}

func (o *observations) grant(sessionID string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.granted == nil {
		o.granted = map[string]bool{}
	}
	// The ledger names a session by its digest, as its lease does.
	o.granted[tokens.SessionDigest(sessionID)] = true
}

func (o *observations) hold(sessionID string, from, to time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.held == nil {
		o.held = map[string][]span{}
	}
	ref := tokens.SessionDigest(sessionID)
	o.held[ref] = append(o.held[ref], span{from.Round(0), to.Round(0)})
}

func (o *observations) odd(list *[]string, format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	*list = append(*list, fmt.Sprintf(format, args...))
}

// seatAnswer is the part of an acquire or heartbeat answer a client uses.
type seatAnswer struct {
	SessionID string `json:"session_id"`
	ExpiresAt string `json:"expires_at"`
	Resumed   bool   `json:"resumed"`
	Revived   bool   `json:"revived"`
}

// runChaosClient is one process of a workstation (instance "" names none):
// acquire, hold the seat for one to three heartbeats, release, and again,
// until ctx ends. Failures a restart causes (no answer, 503) are waited
// out; a refusal for want of a seat waits longer.
func runChaosClient(ctx context.Context, client *http.Client, url, key, fp, instance string, revives, borrows bool, o *observations) {
	pause := func(min, max time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min + mathrand.N(max-min)):
			return true
		}
	}
	for ctx.Err() == nil {
		var got seatAnswer
		o.acquires.Add(1)
		body := map[string]any{"license_key": key, "fingerprint": fp}
		if instance != "" {
			body["instance_id"] = instance
		}
		c := post(client, url, "/v1/acquire", body, &got)
		switch {
		case c.err != nil:
			o.transportErrs.Add(1)
			pause(100*time.Millisecond, 500*time.Millisecond)
			continue
		case c.status == http.StatusConflict:
			o.noSeats.Add(1)
			pause(time.Second, 2*time.Second)
			continue
		case c.status == http.StatusServiceUnavailable:
			o.unavailable.Add(1)
			pause(100*time.Millisecond, 500*time.Millisecond)
			continue
		case c.status != http.StatusOK:
			o.odd(&o.unexpected, "acquire: %d", c.status)
			pause(time.Second, 2*time.Second)
			continue
		}
		expires, err := time.Parse(time.RFC3339, got.ExpiresAt)
		if err != nil || got.SessionID == "" {
			o.odd(&o.unexpected, "acquire: 200 without a session or expiry: %+v", got)
			continue
		}
		o.grant(got.SessionID)
		if instance != "" && got.Resumed {
			o.sharedGrants.Add(1)
		}
		from, until := c.finished, expires
		session := map[string]any{"session_id": got.SessionID}
		if instance != "" {
			session["instance_id"] = instance
		}
		// held until: the lease runs out, the server says the session is
		// gone, or the client lets go.
		let := func(at time.Time) {
			if at.After(until) {
				at = until
			}
			if at.After(from) { // else the answer came too late to hold anything
				o.hold(got.SessionID, from, at)
			}
		}
		if borrows {
			out, answered, end, device := borrowSeat(client, url, got.SessionID, o, pause)
			switch out {
			case sessionGone:
				if answered.Before(until) {
					o.odd(&o.earlyLoss, "%s: borrow 404 at %s, lease until %s", fp,
						answered.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
				}
				let(answered)
				continue
			case seatBorrowed:
				// The seat counts until the borrow's end, with no
				// heartbeat: held from the answer (or on from the grant)
				// until then, or until the client sends its return.
				if answered.After(until) {
					let(until)
					from = answered
				}
				until = end
				if mathrand.N(2) == 0 && pause(0, max(time.Until(end)/2, time.Millisecond)) {
					let(time.Now())
					returnSeat(client, url, got.SessionID, device, end, o, pause)
				} else {
					pause(time.Until(end), time.Until(end)+time.Millisecond)
					let(until)
				}
				continue
			}
		}
		gone := false
		for beats := 1 + mathrand.N(3); beats > 0 && !gone && ctx.Err() == nil; {
			if !pause(chaosTTL/3-50*time.Millisecond, chaosTTL/3+50*time.Millisecond) {
				break
			}
			if time.Now().After(until) {
				let(until)
				// The lease ran out (a restart): a reviving client asks
				// for the session back before acquiring again.
				var hb seatAnswer
				if !revives {
					gone = true
					break
				}
				o.heartbeats.Add(1)
				c := post(client, url, "/v1/heartbeat", session, &hb)
				e, err := time.Parse(time.RFC3339, hb.ExpiresAt)
				if c.err != nil || c.status != http.StatusOK || err != nil || !hb.Revived {
					if c.err == nil && c.status != http.StatusOK && c.status != http.StatusNotFound &&
						c.status != http.StatusServiceUnavailable {
						o.odd(&o.unexpected, "heartbeat after the lease ran out: %d", c.status)
					}
					gone = true
					break
				}
				// Held again from the revival's answer: a new holding.
				o.revived.Add(1)
				from, until = c.finished, e
				continue
			}
			var hb seatAnswer
			o.heartbeats.Add(1)
			c := post(client, url, "/v1/heartbeat", session, &hb)
			switch {
			case c.err != nil:
				o.transportErrs.Add(1)
			case c.status == http.StatusServiceUnavailable:
				o.unavailable.Add(1)
			case c.status == http.StatusOK:
				e, err := time.Parse(time.RFC3339, hb.ExpiresAt)
				if err != nil {
					o.odd(&o.unexpected, "heartbeat: 200 without an expiry: %+v", hb)
					break
				}
				// A heartbeat sent before the lease ran out may arrive
				// after (a restart held it up): the seat was not held in
				// between, and a seat free then revives the session. Held
				// again from the answer: a new holding, as above.
				if c.finished.After(until) {
					let(until)
					from = c.finished
				}
				if hb.Revived {
					o.revived.Add(1)
					if !c.finished.After(until) {
						o.odd(&o.unexpected, "%s: heartbeat revived a session at %s whose lease ran until %s", fp,
							c.finished.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
					}
				}
				if e.After(until) || hb.Revived {
					until = e
				}
				beats--
			case c.status == http.StatusNotFound:
				// Only a lease that has run out may be gone: Redis keeps
				// every session it acknowledged across its restarts.
				if c.finished.Before(until) {
					o.odd(&o.earlyLoss, "%s: heartbeat 404 at %s, lease until %s", fp,
						c.finished.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
				}
				let(c.finished)
				gone = true
			default:
				o.odd(&o.unexpected, "heartbeat: %d", c.status)
			}
		}
		if gone {
			continue
		}
		// The client lets go when it sends the release, whatever comes back.
		let(time.Now())
		var rel map[string]any
		o.releases.Add(1)
		if c := post(client, url, "/v1/release", session, &rel); c.err == nil && c.status != http.StatusOK &&
			c.status != http.StatusServiceUnavailable {
			o.odd(&o.unexpected, "release: %d", c.status)
		}
		// Back within the linger about half the time (its seat taken back),
		// else after it ended (the seat went to another).
		pause(0, 2*chaosLinger*time.Second)
	}
}

// What a borrow came to.
type borrowOutcome int

const (
	notBorrowed  borrowOutcome = iota // refused at the limit, or the client stopped
	seatBorrowed                      // borrowed until the end given
	sessionGone                       // 404: the lease had run out
)

// borrowSeat borrows the session for three to five seconds (so its end,
// whole seconds, passes the two-second lease's). While the answer is
// unknown (none came, or a 503) the borrow may have been made: it asks
// again with the same device key, which extends such a borrow (answering
// its end) or makes it, until an answer says.
func borrowSeat(client *http.Client, url, sessionID string, o *observations,
	pause func(min, max time.Duration) bool) (borrowOutcome, time.Time, time.Time, ed25519.PrivateKey) {
	device, pub, err := leasejws.NewDeviceKey()
	if err != nil {
		o.odd(&o.unexpected, "device key: %v", err)
		return notBorrowed, time.Time{}, time.Time{}, nil
	}
	body := map[string]any{"session_id": sessionID, "seconds": 3 + mathrand.N(3), "device_key": pub}
	for {
		var ans struct {
			BorrowedUntil string `json:"borrowed_until"`
		}
		o.borrowsAsked.Add(1)
		c := post(client, url, "/v1/borrow", body, &ans)
		switch {
		case c.err != nil:
			o.transportErrs.Add(1)
		case c.status == http.StatusServiceUnavailable:
			o.unavailable.Add(1)
		case c.status == http.StatusOK:
			end, err := time.Parse(time.RFC3339, ans.BorrowedUntil)
			if err != nil {
				o.odd(&o.unexpected, "borrow: 200 without borrowed_until: %+v", ans)
				return notBorrowed, c.finished, time.Time{}, nil
			}
			o.borrowed.Add(1)
			return seatBorrowed, c.finished, end, device
		case c.status == http.StatusConflict: // borrow_limit: the same key is never another device
			o.borrowLimited.Add(1)
			return notBorrowed, c.finished, time.Time{}, nil
		case c.status == http.StatusNotFound:
			return sessionGone, c.finished, time.Time{}, nil
		default:
			o.odd(&o.unexpected, "borrow: %d", c.status)
			return notBorrowed, c.finished, time.Time{}, nil
		}
		if !pause(100*time.Millisecond, 300*time.Millisecond) {
			return notBorrowed, time.Now(), time.Time{}, nil
		}
	}
}

// returnSeat returns a borrowed seat early with a proof signed by its
// device key, again (with a fresh proof) while the answer is unknown and
// the borrow has not ended; 404 means it ended meanwhile.
func returnSeat(client *http.Client, url, sessionID string, device ed25519.PrivateKey, end time.Time, o *observations,
	pause func(min, max time.Duration) bool) {
	for time.Now().Before(end) {
		proof, err := leasejws.SignReturnProof(device, sessionID, time.Now())
		if err != nil {
			o.odd(&o.unexpected, "return proof: %v", err)
			return
		}
		var ans map[string]any
		c := post(client, url, "/v1/return", map[string]any{"session_id": sessionID, "proof": proof}, &ans)
		switch {
		case c.err != nil:
			o.transportErrs.Add(1)
		case c.status == http.StatusServiceUnavailable:
			o.unavailable.Add(1)
		case c.status == http.StatusOK:
			o.returned.Add(1)
			return
		case c.status == http.StatusNotFound:
			return
		default:
			o.odd(&o.unexpected, "return: %d", c.status)
			return
		}
		if !pause(100*time.Millisecond, 300*time.Millisecond) {
			return
		}
	}
}
