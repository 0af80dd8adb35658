package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// scaleOptions size make bench-scale.
type scaleOptions struct {
	licenses, perLicense int // the large state: licenses × sessions each
	small                int // sessions of the small state
	expire               int // sessions left to expire for each sweep
}

// slowCommand is the bound on every Redis command of a sweep: the sweep
// runs beside the hot path on the same Redis, which runs one command at a
// time, so a long command would stall every acquire behind it. It is
// judged here, on a machine doing nothing else, rather than in make test,
// where the wall-clock time SLOWLOG measures includes whatever else the
// machine is doing.
const slowCommand = 5 * time.Millisecond

// deepSessions is how many expired sessions each license of the deep sweep
// holds: many times the cleanup's sweep batch, so every license takes many
// full sweep calls (the longest command a sweep sends) and several drain
// reads.
const deepSessions = 1000

// runScale measures what a large state costs: acquire latency with a
// million live sessions against a thousand, Redis memory per live session,
// and two sweeps of 100,000 expired sessions, one spread over many
// licenses and one deep, with every Redis command under slowCommand: it
// returns an error, after the report, when one was not. It runs its own
// redis-server, so the memory figures are its alone.
func runScale(ctx context.Context, o options, so scaleOptions) error {
	redisURL, stopRedis, err := privateRedis(ctx)
	if err != nil {
		return err
	}
	defer stopRedis()
	opts, _ := redis.ParseURL(redisURL)
	opts.PoolSize = 64
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	dbURL, dropDB, err := database(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	defer dropDB()
	const prefix = "lic:"
	srv, err := startServer(ctx, o.server, []string{"REDIS_URL=" + redisURL, "REDIS_KEY_PREFIX=" + prefix,
		"DATABASE_URL=" + dbURL, "BOOTSTRAP_ADMIN_TOKEN=" + adminToken, "LOG_LEVEL=warn",
		"RATE_LIMIT_CREDENTIAL=0", "RATE_LIMIT_LICENSE=0", "CLEANUP_INTERVAL=1h"})
	if err != nil {
		return err
	}
	defer srv.stop()
	b := &bench{o: o, srv: srv}

	// The small state: licenses with `small` sessions in all.
	smallLics, err := bulkLicenses(ctx, dbURL, so.small/so.perLicense, 300)
	if err != nil {
		return err
	}
	if err := warm(b, smallLics); err != nil {
		return err
	}
	if err := fill(ctx, rdb, prefix, smallLics, so.perLicense, "s"); err != nil {
		return err
	}
	b.lics = smallLics
	small := b.acquireOnly(ctx)

	// The large state.
	start := time.Now()
	bigLics, err := bulkLicenses(ctx, dbURL, so.licenses, 300)
	if err != nil {
		return err
	}
	if err := warm(b, bigLics); err != nil {
		return err
	}
	// Nothing in the ledger before the first reading, so the difference is
	// the sessions' own.
	if err := drainAll(ctx, rdb, prefix, srv.url); err != nil {
		return err
	}
	memBefore, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	if err := fill(ctx, rdb, prefix, bigLics, so.perLicense, "b"); err != nil {
		return err
	}
	memAfter, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}
	// warm gave each license one session before memBefore; fill the rest.
	sessions := so.licenses * so.perLicense
	added := so.licenses * (so.perLicense - 1)
	fmt.Printf("bench-scale: %d licenses with %d live sessions made in %s\n", so.licenses, sessions, time.Since(start).Round(time.Second))
	b.lics = bigLics
	large := b.acquireOnly(ctx)
	// The ledger holds each session's 'acquired' entry until the cleanup
	// drains it; the memory a live session costs in steady state is after.
	if err := drainAll(ctx, rdb, prefix, srv.url); err != nil {
		return err
	}
	memDrained, err := usedMemory(ctx, rdb)
	if err != nil {
		return err
	}

	// The sweeps: sessions with a one-second lease, left to expire, spread
	// over many licenses (many scan and drain pages) and then deep.
	var sweeps []sweepResult
	for _, shape := range []struct {
		name       string
		perLicense int
		tag        string
	}{{"wide", so.perLicense, "x"}, {"deep", deepSessions, "y"}} {
		expLics, err := bulkLicenses(ctx, dbURL, max(1, so.expire/shape.perLicense), 1)
		if err != nil {
			return err
		}
		if err := warm(b, expLics); err != nil {
			return err
		}
		if err := fill(ctx, rdb, prefix, expLics, shape.perLicense, shape.tag); err != nil {
			return err
		}
		time.Sleep(1500 * time.Millisecond)
		s, err := sweep(ctx, rdb, prefix, srv.url)
		if err != nil {
			return err
		}
		s.sessions, s.licenses = len(expLics)*shape.perLicense, len(expLics)
		sweeps = append(sweeps, s)
	}

	fmt.Println()
	report(os.Stdout, []row{
		{fmt.Sprintf("acquire, %d live sessions", so.small), unmeasured(small), unmeasured(small)},
		{fmt.Sprintf("acquire, %d live sessions", sessions), unmeasured(large), unmeasured(small)},
	})
	perSession := float64(memAfter-memBefore) / float64(added)
	drained := float64(memDrained-memBefore) / float64(added)
	fmt.Printf("\nRedis memory per live session: %.0f bytes with its ledger entry undrained, %.0f bytes after the drain (INFO memory used_memory, %d → %d → %d)\n",
		perSession, drained, memBefore, memAfter, memDrained)
	slow := 0
	for _, s := range sweeps {
		fmt.Println(s)
		slow += len(s.slow)
	}
	fmt.Printf("RESULT small_p50_ms=%.3f large_p50_ms=%.3f p50_ratio=%.3f bytes_per_session=%.0f bytes_per_session_undrained=%.0f sweep_slow_commands=%d\n",
		ms(small.Latencies.P50), ms(large.Latencies.P50), float64(large.Latencies.P50)/float64(small.Latencies.P50),
		drained, perSession, slow)
	if slow > 0 {
		return fmt.Errorf("the sweep bound is not met: %d Redis commands of the sweeps took %s or more (every one must take less)", slow, slowCommand)
	}
	return nil
}

// unmeasured is a phase whose CPU per request is not known: acquireOnly
// sends releases too, and only the acquires are in its metrics.
func unmeasured(m *vegeta.Metrics) phase {
	p := fromVegeta(m)
	p.cpu = perRequest{server: -1, redis: -1, self: -1}
	return p
}

// acquireOnly measures acquires of new seats; each granted session is
// released by the next request a connection sends, so the state stays the
// size it is. Only the acquires are in the figures. It stays with vegeta:
// it compares latencies between two states, which the load generator's
// CPU does not skew the way it caps make bench's throughput.
func (b *bench) acquireOnly(ctx context.Context) *vegeta.Metrics {
	acquireURL, releaseURL := b.srv.url+"/v1/acquire", b.srv.url+"/v1/release"
	jsonHeader := http.Header{"Content-Type": []string{"application/json"}}
	var mu sync.Mutex
	var granted []string
	tr := func(t *vegeta.Target) error {
		t.Method, t.Header = http.MethodPost, jsonHeader
		mu.Lock()
		if n := len(granted); n > 0 {
			id := granted[n-1]
			granted = granted[:n-1]
			mu.Unlock()
			t.URL, t.Body = releaseURL, fmt.Appendf(nil, `{"session_id":"%s"}`, id)
			return nil
		}
		mu.Unlock()
		n := b.seq.Add(1)
		l := b.lics[n%uint64(len(b.lics))]
		t.URL = acquireURL
		t.Body = fmt.Appendf(nil, `{"license_key":"%s","fingerprint":"ws-%d"}`, l.key, n)
		return nil
	}
	var acquires vegeta.Metrics
	observe := func(r *vegeta.Result) {
		if r.URL != acquireURL {
			return
		}
		if id := sessionID(r); id != "" {
			mu.Lock()
			granted = append(granted, id)
			mu.Unlock()
		}
		r.Body = nil
		acquires.Add(r)
	}
	atk := vegeta.NewAttacker(vegeta.Workers(uint64(b.o.conns)), vegeta.MaxWorkers(uint64(b.o.conns)),
		vegeta.Connections(b.o.conns), vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second))
	for r := range atk.Attack(tr, vegeta.Rate{Freq: 0}, b.o.duration, "acquire") {
		observe(r)
	}
	acquires.Close()
	return &acquires
}

func sessionID(r *vegeta.Result) string {
	if r.Code != 200 {
		return ""
	}
	i := bytes.Index(r.Body, []byte(`"session_id":"`))
	if i < 0 {
		return ""
	}
	rest := r.Body[i+len(`"session_id":"`):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// privateRedis starts a redis-server of the bench's own on a free port.
func privateRedis(ctx context.Context) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, fmt.Errorf("redis-server is not on PATH: %w", err)
	}
	dir, err := os.MkdirTemp("", "bench-redis")
	if err != nil {
		return "", nil, err
	}
	port := strconv.Itoa(20000 + int(time.Now().UnixNano()%20000))
	cmd := exec.CommandContext(ctx, bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--slowlog-log-slower-than", strconv.FormatInt(slowCommand.Microseconds(), 10), "--slowlog-max-len", "1024")
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	url := "redis://127.0.0.1:" + port + "/0"
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	defer c.Close()
	for range 100 {
		if c.Ping(ctx).Err() == nil {
			return url, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("private redis-server did not start")
}

// bulkLicenses inserts n licenses of one new tenant straight into
// PostgreSQL (the admin API would take minutes for 100,000).
func bulkLicenses(ctx context.Context, dbURL string, n, ttl int) ([]license, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	var tenant string
	slug := "scale-" + randomHex(3)
	if err := conn.QueryRow(ctx, `INSERT INTO tenants (name, slug) VALUES ($1, $1) RETURNING id`, slug).Scan(&tenant); err != nil {
		return nil, err
	}
	out := make([]license, n)
	rows := make([][]any, n)
	for i := range out {
		id, err := tokens.NewUUID()
		if err != nil {
			return nil, err
		}
		key, hash, err := tokens.NewLicenseKey(id)
		if err != nil {
			return nil, err
		}
		out[i] = license{id: id, key: key, hash: hash}
		rows[i] = []any{id, tenant, "bench", 100000, ttl, hash, key[:tokens.DisplayPrefixLen]}
	}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{"licenses"},
		[]string{"id", "tenant_id", "product", "seats", "lease_ttl_seconds", "key_hash", "key_prefix"}, pgx.CopyFromRows(rows))
	if err != nil {
		return nil, fmt.Errorf("inserting licenses: %w", err)
	}
	return out, nil
}

// warm has the server load every license into Redis the way production
// does: on its first acquire (one PostgreSQL read each), which also gives
// every license a session for the fingerprint "fill-0".
func warm(b *bench, lics []license) error {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	next := make(chan license)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range next {
				var g struct {
					SessionID string `json:"session_id"`
				}
				body := fmt.Sprintf(`{"license_key":"%s","fingerprint":"fill-0"}`, l.key)
				if err := post(b.srv.url+"/v1/acquire", "", body, &g); err != nil {
					select {
					case errs <- err:
					default:
					}
					// Keep taking work, so the sender never blocks.
				}
			}
		}()
	}
	for _, l := range lics {
		next <- l
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

// fill gives every license perLicense live sessions in all (it has one from
// warm), with the same acquire script the server runs, pipelined.
func fill(ctx context.Context, rdb *redis.Client, prefix string, lics []license, perLicense int, tag string) error {
	script := redis.NewScript(lua.Load().Acquire.Source)
	if err := script.Load(ctx, rdb).Err(); err != nil {
		return err
	}
	const batch = 2000
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	work := make(chan []license)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for part := range work {
				_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					for _, l := range part {
						base := prefix + "{" + l.id + "}:"
						keys := []string{base + "m", base + "l", base + "i", base + "u", base + "b", base + "e", base + "n", base + "o"}
						for j := 1; j < perLicense; j++ {
							ses, err := tokens.NewSession(l.id, l.key)
							if err != nil {
								return err
							}
							fp := fmt.Sprintf("fill-%s%d", tag, j)
							script.EvalSha(ctx, p, keys, l.hash, fp, ses.Digest, "host-"+fp, "", "", "", "", 0, 0, ses.Nonce)
						}
					}
					return nil
				})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	per := max(1, batch/perLicense)
	for i := 0; i < len(lics); i += per {
		work <- lics[i:min(i+per, len(lics))]
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("filling sessions: %w", err)
	}
	return nil
}

func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO memory")
}

// drainAll runs the server's cleanup until no ledger entry and no expired
// session is left in Redis.
func drainAll(ctx context.Context, rdb *redis.Client, prefix, base string) error {
	for range 100 {
		resp, err := http.Post(base+"/internal/cleanup", "application/json", nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("cleanup: %d", resp.StatusCode)
		}
		left, err := leftover(ctx, rdb, prefix)
		if err != nil || left == 0 {
			return err
		}
	}
	return fmt.Errorf("cleanup did not finish in 100 runs")
}

// leftover counts ledger entries and expired sessions still in Redis (the
// bench's own check: it walks the registry as the sweep does).
func leftover(ctx context.Context, rdb *redis.Client, prefix string) (int64, error) {
	var total int64
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	var cursor uint64
	for {
		ids, next, err := rdb.SScan(ctx, prefix+"{registry}:licenses", cursor, "", 1000).Result()
		if err != nil {
			return 0, err
		}
		cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range ids {
				p.XLen(ctx, prefix+"{"+id+"}:e")
				p.ZCount(ctx, prefix+"{"+id+"}:l", "-inf", now)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		for _, c := range cmds {
			total += c.(*redis.IntCmd).Val()
		}
		if cursor = next; cursor == 0 {
			return total, nil
		}
	}
}

// sweepResult is one sweep: what it swept, how long it took, and the
// commands SLOWLOG caught at slowCommand or more (at most its length,
// 1,024).
type sweepResult struct {
	sessions, licenses int
	took               time.Duration
	slow               []redis.SlowLog
}

// String is the sweep's line of the report; one over the bound says so.
func (s sweepResult) String() string {
	line := fmt.Sprintf("sweep of %d expired sessions over %d licenses: %s; Redis commands at %s or more (SLOWLOG): ",
		s.sessions, s.licenses, s.took.Round(time.Millisecond), slowCommand)
	if len(s.slow) == 0 {
		return line + "none"
	}
	slowest := s.slow[0]
	for _, e := range s.slow {
		if e.Duration > slowest.Duration {
			slowest = e
		}
	}
	return fmt.Sprintf("%s%d, the slowest %s (%s): OVER THE BOUND", line, len(s.slow), slowest.Duration,
		strings.Join(slowest.Args[:min(3, len(slowest.Args))], " "))
}

// sweep runs the server's cleanup on the expired sessions with the SLOWLOG
// reset, and returns what SLOWLOG caught.
func sweep(ctx context.Context, rdb *redis.Client, prefix, base string) (sweepResult, error) {
	if err := rdb.SlowLogReset(ctx).Err(); err != nil {
		return sweepResult{}, fmt.Errorf("resetting SLOWLOG: %w", err)
	}
	start := time.Now()
	if err := drainAll(ctx, rdb, prefix, base); err != nil {
		return sweepResult{}, err
	}
	took := time.Since(start)
	entries, err := rdb.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return sweepResult{}, fmt.Errorf("reading SLOWLOG: %w", err)
	}
	return sweepResult{took: took, slow: entries}, nil
}
