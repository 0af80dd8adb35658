package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// sustainedOptions configure the sustained phase.
type sustainedOptions struct {
	duration time.Duration // 0: no sustained phase
	interval time.Duration // the server's cleanup interval during it
	licenses int
}

// minDrainCapacity is how many times one instance's peak acquire rate the
// ledger drain must store per second of PostgreSQL CPU. Every session is
// two ledger events (acquired, released), so at 3× the drain keeps up with
// an instance at its peak while using two thirds of a PostgreSQL core at
// most, leaving room for the rest of the database's work and for the
// several instances production runs.
const minDrainCapacity = 3

// runSustained is the phase the other phases leave out: acquire →
// heartbeat → release cycles for a while with the cleanup sweeping and
// draining at its production interval meanwhile (the other phases defer
// it). It reports the ledger's lag at the end, the PostgreSQL CPU each
// drained ledger event cost, the drain's capacity against peakAcquire (one
// instance's acquires per second, measured by the acquire phase of the same
// run) and Redis memory per live session; it fails when the capacity is
// below minDrainCapacity times peakAcquire.
//
// A server of its own, on a database and key prefix of its own: the other
// phases' sessions and licenses would blur its figures. Few licenses, as
// a busy tenant's: each license's drain batch is then full, and the
// license's open sessions many (the skew a cached plan once got wrong).
func runSustained(ctx context.Context, o options, so sustainedOptions, rdb *redis.Client, wrkBin string, peakAcquire float64) error {
	prefix := "bench:" + randomHex(4) + ":"
	defer removeKeys(rdb, prefix)
	dbURL, dropDB, err := database(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	defer dropDB()
	dbName, err := databaseName(dbURL)
	if err != nil {
		return err
	}
	srv, err := startServer(ctx, o.server, []string{
		"REDIS_URL=" + o.redisURL, "REDIS_KEY_PREFIX=" + prefix, "DATABASE_URL=" + dbURL,
		"BOOTSTRAP_ADMIN_TOKEN=" + adminToken, "LOG_LEVEL=info",
		"RATE_LIMIT_CREDENTIAL=0", "RATE_LIMIT_ADDRESS=0",
		// A handful of licenses take the whole load here; the per-license
		// limit would measure itself.
		"RATE_LIMIT_LICENSE=0",
		"CLEANUP_INTERVAL=" + so.interval.String(),
	})
	if err != nil {
		return err
	}
	defer srv.stop()
	lics, err := setup(srv.url, so.licenses)
	if err != nil {
		return err
	}
	gen, err := newLoadGen(wrkBin, srv.url, o.conns, lics)
	if err != nil {
		return err
	}
	defer gen.close()
	b := &bench{o: o, srv: srv, lics: lics, cpu: newCPUMeter(ctx, rdb, srv.cmd.Process.Pid), gen: gen}
	pg, err := pgx.Connect(ctx, o.databaseURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %w", o.databaseURL, err)
	}
	defer pg.Close(context.WithoutCancel(ctx))

	// Standing sessions: acquired once and left live (their lease, 300 s,
	// outlasts the phase), drained, to weigh a live session in Redis.
	memBase, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	standing, err := b.wrk(ctx, "acquire.lua", 3*time.Second, b.acquireArgs()...)
	if err != nil {
		return err
	}
	if err := drainAll(ctx, rdb, prefix, srv.url); err != nil {
		return err
	}
	memStanding, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}

	cpu0, err := databaseCPU(ctx, pg, dbName, nil)
	if err != nil {
		return err
	}
	drained0, granted0 := srv.counter("license_cleanup_drained_entries_total"), srv.counter("license_acquire_outcomes_total", `outcome="granted"`)
	if drained0 < 0 || granted0 < 0 {
		return errors.New("the server exports no license_cleanup_drained_entries_total or license_acquire_outcomes_total")
	}
	cycle, err := b.wrk(ctx, "cycle.lua", so.duration, b.acquireArgs()...)
	if err != nil {
		return err
	}
	// At the end of the phase, before anything else drains: what the
	// ledger still holds in Redis, and the last run's own lag.
	backlog, err := ledgerBacklog(ctx, rdb, prefix, lics)
	if err != nil {
		return err
	}
	memEnd, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	lag := srv.counter("license_ledger_drain_lag_seconds")
	granted := srv.counter("license_acquire_outcomes_total", `outcome="granted"`) - granted0
	runsDone := srv.counter("license_cleanup_runs_total", `result="ok"`)

	// The drain's capacity: everything the phase wrote, drained by the
	// server's own scheduled runs (the next one included), against the
	// CPU the bench database's backends used meanwhile. That CPU also
	// holds the phase's other PostgreSQL work (workstation sightings,
	// license loads), so the figure errs low.
	deadline := time.Now().Add(so.interval + 30*time.Second)
	for srv.counter("license_cleanup_runs_total", `result="ok"`) <= runsDone {
		if time.Now().After(deadline) {
			return fmt.Errorf("sustained: no cleanup run ended within %s after the phase", so.interval+30*time.Second)
		}
		time.Sleep(time.Second)
	}
	cpu1, err := databaseCPU(ctx, pg, dbName, cpu0)
	if err != nil {
		return err
	}
	drained := srv.counter("license_cleanup_drained_entries_total") - drained0
	var pgCPU time.Duration
	for _, d := range cpu1 {
		pgCPU += d
	}
	for pid, d := range cpu0 {
		if _, ok := cpu1[pid]; ok {
			pgCPU -= d
		}
	}
	if drained <= 0 || pgCPU <= 0 {
		return fmt.Errorf("sustained: %0.f ledger entries drained, %s of PostgreSQL CPU: nothing to measure", drained, pgCPU)
	}
	perEvent := pgCPU.Seconds() / drained
	capacity := drained / pgCPU.Seconds()
	live := backlog.live
	fmt.Printf("\nSustained: %s of acquire → 3 heartbeats → release cycles on %d licenses, %d connections, the cleanup every %s meanwhile\n",
		so.duration, len(lics), o.conns, so.interval)
	fmt.Printf("  sessions: %.0f granted (%.0f/s), %d requests, %d errors\n", granted, granted/so.duration.Seconds(), cycle.requests, cycle.errors)
	fmt.Printf("  ledger at the end: %d entries still in Redis, the oldest %.1f s old; the last run's lag %.1f s\n",
		backlog.entries, backlog.oldest.Seconds(), lag)
	fmt.Printf("  PostgreSQL CPU (the bench database's backends, until the next run drained the phase): %.2f s for %.0f ledger events = %.1f µs per event\n",
		pgCPU.Seconds(), drained, perEvent*1e6)
	fmt.Printf("  drain capacity: %.0f events per PostgreSQL CPU-second = %.1f× the peak acquire rate of one instance (%.0f/s, the acquire phase above); at least %d× required\n",
		capacity, capacity/peakAcquire, peakAcquire, minDrainCapacity)
	fmt.Printf("  Redis memory per live session: %.0f bytes drained (%d standing sessions); %.0f bytes at the end (%d live, %d ledger entries undrained)\n",
		float64(memStanding-memBase)/float64(standing.ok), standing.ok, float64(memEnd-memBase)/float64(max(live, 1)), live, backlog.entries)
	fmt.Printf("RESULT sustained_sessions_per_s=%.0f ledger_backlog_end=%d ledger_oldest_end_s=%.1f pg_cpu_per_event_us=%.1f drain_capacity=%.0f drain_capacity_ratio=%.2f\n",
		granted/so.duration.Seconds(), backlog.entries, backlog.oldest.Seconds(), perEvent*1e6, capacity, capacity/peakAcquire)
	if capacity < minDrainCapacity*peakAcquire {
		return fmt.Errorf("sustained: the drain stores %.0f events per PostgreSQL CPU-second, %.1f× the peak acquire rate (%.0f/s); at least %d× is required",
			capacity, capacity/peakAcquire, peakAcquire, minDrainCapacity)
	}
	return nil
}

// databaseName is the database a PostgreSQL URL names.
func databaseName(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return "", fmt.Errorf("no database in %s", u.Redacted())
	}
	return name, nil
}

// databaseCPU is the CPU time of every backend connected to database name,
// by process id, and of those in before that have gone since (their last
// reading, so nothing they used is lost). PostgreSQL must run on this
// machine: the bench reads /proc.
func databaseCPU(ctx context.Context, pg *pgx.Conn, name string, before map[int]time.Duration) (map[int]time.Duration, error) {
	rows, err := pg.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("listing the bench database's backends: %w", err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return nil, fmt.Errorf("listing the bench database's backends: %w", err)
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		d := procCPU(int(pid))
		if d < 0 {
			if _, err := os.Stat("/proc/" + strconv.Itoa(int(pid))); err == nil {
				return nil, fmt.Errorf("cannot read the CPU time of PostgreSQL backend %d", pid)
			}
			return nil, fmt.Errorf("PostgreSQL backend %d is not a process of this machine: the sustained phase needs PostgreSQL on this machine", pid)
		}
		out[int(pid)] = d
	}
	for pid, d := range before {
		if _, ok := out[pid]; !ok {
			out[pid] = d
		}
	}
	return out, nil
}

// backlog is what the ledger holds in Redis at one moment.
type backlog struct {
	entries int64         // ledger entries not yet drained
	oldest  time.Duration // age of the oldest of them
	live    int64         // sessions holding a seat
}

// ledgerBacklog reads the bench licenses' ledger streams and session sets.
func ledgerBacklog(ctx context.Context, rdb *redis.Client, prefix string, lics []license) (backlog, error) {
	var b backlog
	now := time.Now()
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, l := range lics {
			p.XLen(ctx, prefix+"{"+l.id+"}:e")
			p.XRangeN(ctx, prefix+"{"+l.id+"}:e", "-", "+", 1)
			p.ZCard(ctx, prefix+"{"+l.id+"}:l")
		}
		return nil
	})
	if err != nil {
		return b, fmt.Errorf("reading the ledger backlog: %w", err)
	}
	for i := 0; i < len(cmds); i += 3 {
		b.entries += cmds[i].(*redis.IntCmd).Val()
		if first := cmds[i+1].(*redis.XMessageSliceCmd).Val(); len(first) > 0 {
			ms, err := strconv.ParseInt(strings.SplitN(first[0].ID, "-", 2)[0], 10, 64)
			if err != nil {
				return b, fmt.Errorf("ledger entry id %q: %w", first[0].ID, err)
			}
			b.oldest = max(b.oldest, now.Sub(time.UnixMilli(ms)))
		}
		b.live += cmds[i+2].(*redis.IntCmd).Val()
	}
	return b, nil
}
