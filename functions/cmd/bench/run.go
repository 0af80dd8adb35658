package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// license is one bench license: its tenant, id and key.
type license struct{ tenant, id, key, hash string }

func run(ctx context.Context, o options) error {
	var wrkBin string
	if o.serve == "" && !o.floodOnly {
		var err error
		if wrkBin, err = exec.LookPath("wrk"); err != nil {
			return errors.New("make bench needs wrk: apt-get install wrk")
		}
	}
	opts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return err
	}
	opts.PoolSize = o.conns * 2
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("connecting to Redis at %s: %w", o.redisURL, err)
	}
	prefix := "bench:" + randomHex(4) + ":"
	defer removeKeys(rdb, prefix)
	dbURL, dropDB, err := database(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	defer dropDB()

	srv, err := startServer(ctx, o.server, []string{
		"REDIS_URL=" + o.redisURL, "REDIS_KEY_PREFIX=" + prefix, "DATABASE_URL=" + dbURL,
		"BOOTSTRAP_ADMIN_TOKEN=" + adminToken, "LOG_LEVEL=info",
		// Setup creates the licenses faster than an admin credential may.
		"RATE_LIMIT_CREDENTIAL=0",
		// The random-license flood comes from one address, and must reach
		// the seat engine with every request to count its queries.
		"RATE_LIMIT_ADDRESS=0",
		fmt.Sprintf("RATE_LIMIT_LICENSE=%d", o.rateLimit), fmt.Sprintf("RATE_LIMIT_LICENSE_BURST=%d", 2*o.rateLimit),
		// The sweep is measured by make bench-scale; here it would only add
		// noise (and its PostgreSQL writes) to the phases.
		"CLEANUP_INTERVAL=1h", "DEVSERVER_PPROF=" + fmt.Sprint(o.cpuProfile != ""),
	})
	if err != nil {
		return err
	}
	defer srv.stop()

	lics, err := setup(srv.url, o.licenses)
	if err != nil {
		return err
	}
	fmt.Printf("bench: %d licenses on %s; %d connections; %s per phase\n", len(lics), srv.url, o.conns, o.duration)

	if o.floodOnly {
		return (&bench{o: o, srv: srv, lics: lics}).randomLicenseFlood()
	}
	if o.serve != "" {
		if err := writeKeys(o.serve, lics); err != nil {
			return err
		}
		fmt.Printf("bench: serving on %s; license keys in %s; interrupt to stop\n", srv.url, o.serve)
		<-ctx.Done()
		return nil
	}
	gen, err := newLoadGen(wrkBin, srv.url, o.conns, lics)
	if err != nil {
		return err
	}
	defer gen.close()
	b := &bench{o: o, srv: srv, lics: lics, cpu: newCPUMeter(ctx, rdb, srv.cmd.Process.Pid), gen: gen}

	// Warm-up: every license's metadata into Redis (the one PostgreSQL read
	// each), connections open.
	warm, err := b.wrk(ctx, "acquire.lua", 2*time.Second, b.acquireArgs()...)
	if err != nil {
		return err
	}

	before := srv.calls()
	var stopProfile func() error
	if o.cpuProfile != "" {
		if stopProfile, err = profile(srv.url, o.duration, o.cpuProfile); err != nil {
			return err
		}
	}
	acq, err := b.wrk(ctx, "acquire.lua", o.duration, b.acquireArgs()...)
	if err != nil {
		return err
	}
	if stopProfile != nil {
		if err := stopProfile(); err != nil {
			return err
		}
	}
	// Every session granted so far (warm-up and acquire phase) is live:
	// the heartbeat and release phases take them all. Listing them reads
	// PostgreSQL; those queries are not the phases'.
	listing := srv.calls()
	if err := b.listSessions(gen.sessions(), warm.ok+acq.ok, 2); err != nil {
		return err
	}
	listing = srv.calls().since(listing)
	hb, err := b.wrk(ctx, "sessions.lua", o.duration, "ids="+gen.sessions(), "path=/v1/heartbeat", "again=1")
	if err != nil {
		return err
	}
	rel, err := b.wrk(ctx, "sessions.lua", o.duration, "ids="+gen.sessions(), "path=/v1/release")
	if err != nil {
		return err
	}
	cycle, err := b.wrk(ctx, "cycle.lua", o.duration, b.acquireArgs()...)
	if err != nil {
		return err
	}
	made := srv.calls().since(before).since(listing)

	floor, err := b.floor(ctx, rdb, prefix)
	if err != nil {
		return err
	}

	report(os.Stdout, []row{
		{"acquire", acq, floor}, {"heartbeat", hb, floor}, {"release", rel, floor},
		{"cycle (acquire, 3 heartbeats, release)", cycle, floor}, {"floor: acquire script via go-redis", floor, floor},
	})
	if before.pgHot >= 0 {
		fmt.Printf("\nDuring the measured phases (%d requests): PostgreSQL queries made by acquire, heartbeat or release: %.0f; "+
			"by background work (the batched workstation recorder): %.0f; KMS calls: %.0f\n",
			acq.requests+hb.requests+rel.requests+cycle.requests, made.pgHot, made.pgAll-made.pgHot, made.kms)
	} else {
		fmt.Println("\n(the server exports no license_postgres_queries_total / license_kms_calls_total counters)")
	}
	if err := b.randomLicenseFlood(); err != nil {
		return err
	}
	fmt.Printf("RESULT acquire_rps=%.0f heartbeat_rps=%.0f release_rps=%.0f floor_rps=%.0f acquire_ratio=%.3f heartbeat_ratio=%.3f acquire_p99_ms=%.2f\n",
		acq.okPerSec, hb.okPerSec, rel.okPerSec, floor.okPerSec,
		acq.okPerSec/floor.okPerSec, hb.okPerSec/floor.okPerSec, ms(acq.p99))
	if o.sustained.duration <= 0 {
		return nil
	}
	// Its own server: stop this one first, so the two do not share the
	// machine.
	srv.stop()
	return runSustained(ctx, o, o.sustained, rdb, wrkBin, acq.okPerSec)
}

// setup creates a tenant and the licenses through the admin API.
func setup(base string, n int) ([]license, error) {
	var tenant struct{ ID string }
	if err := post(base+"/v1/tenants", adminToken, `{"name":"Bench","slug":"bench"}`, &tenant); err != nil {
		return nil, err
	}
	out := make([]license, n)
	err := parallel(n, func(i int) error {
		var l struct{ ID, Key string }
		err := post(base+"/v1/tenants/"+tenant.ID+"/licenses", adminToken,
			`{"product":"bench","seats":100000,"lease_ttl_seconds":300}`, &l)
		if err != nil {
			return err
		}
		_, hash, err := tokens.ParseLicenseKey(l.Key)
		if err != nil {
			return err
		}
		out[i] = license{tenant: tenant.ID, id: l.ID, key: l.Key, hash: hash}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating licenses: %w", err)
	}
	return out, nil
}

// parallel calls f(0) to f(n-1), eight at a time, and returns the first
// error.
func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func post(url, token, body string, out any) error {
	return call(http.MethodPost, url, token, body, out)
}

// call makes one admin API call and decodes its JSON answer into out.
func call(method, url, token, body string, out any) error {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

// listSessions writes the id of every live session of the bench's licenses
// to path, and checks that there is one per
// acquire answered with success, granted, plus at most one per connection
// for each of the phases so far: wrk stops with a request in flight on
// every connection, and does not count those answers.
func (b *bench) listSessions(path string, granted uint64, phases int) error {
	const perLicense = 1000 // the most the API lists at once
	lists := make([][]string, len(b.lics))
	err := parallel(len(b.lics), func(i int) error {
		l := b.lics[i]
		var got struct {
			Sessions []struct {
				Digest      string `json:"session_digest"`
				Fingerprint string `json:"fingerprint"`
			} `json:"sessions"`
		}
		url := fmt.Sprintf("%s/v1/tenants/%s/licenses/%s/sessions?limit=%d", b.srv.url, l.tenant, l.id, perLicense)
		if err := call(http.MethodGet, url, adminToken, "", &got); err != nil {
			return err
		}
		if len(got.Sessions) == perLicense {
			return fmt.Errorf("license %s has %d or more live sessions, more than one listing shows: use more licenses", l.id, perLicense)
		}
		// The admin API names sessions by digest, never by id (the
		// credential); the ids come the way a workstation gets its own
		// back: acquiring again resumes its live session.
		for _, s := range got.Sessions {
			id, err := resume(b.srv.url, l.key, s.Fingerprint, s.Digest)
			if err != nil {
				return err
			}
			lists[i] = append(lists[i], id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing sessions: %w", err)
	}
	var out strings.Builder
	n := uint64(0)
	for _, ids := range lists {
		for _, id := range ids {
			out.WriteString(id + "\n")
			n++
		}
	}
	if n < granted || n > granted+uint64(phases*b.o.conns) {
		return fmt.Errorf("%d acquires were granted in %d phases of %d connections, but the licenses have %d live sessions",
			granted, phases, b.o.conns, n)
	}
	return os.WriteFile(path, []byte(out.String()), 0o600)
}

// resume acquires again from a workstation that holds the session digest
// names and returns the session's id. A resume counts against the
// license's acquire rate limit like any acquire: a refusal is waited out.
func resume(base, key, fingerprint, digest string) (string, error) {
	body := fmt.Sprintf(`{"license_key":%q,"fingerprint":%q}`, key, fingerprint)
	for deadline := time.Now().Add(time.Minute); ; {
		var g struct {
			SessionID string `json:"session_id"`
			Resumed   bool   `json:"resumed"`
		}
		err := post(base+"/v1/acquire", "", body, &g)
		if err != nil && strings.Contains(err.Error(), ": 429 ") && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			return "", err
		}
		if !g.Resumed || tokens.SessionDigest(g.SessionID) != digest {
			return "", fmt.Errorf("acquiring again from %s did not resume its session %s", fingerprint, digest)
		}
		return g.SessionID, nil
	}
}

type bench struct {
	o    options
	srv  *server
	lics []license
	seq  atomic.Uint64 // the highest workstation number used: every fingerprint is new
	cpu  cpuMeter
	gen  *loadGen
}

// phase is one measured phase: its requests, successes per second of the
// run, latencies, errors, and the CPU each request cost the server, Redis
// and the load generator.
type phase struct {
	requests           uint64
	ok                 uint64 // answers with a status below 400 (and no release of nothing)
	okPerSec           float64
	p50, p95, p99, max time.Duration
	errors             uint64
	errorDetail        []string
	codes              map[string]uint64 // responses by status
	cpu                perRequest
}

// fromVegeta is vegeta's metrics (the floor's and make bench-scale's) as a
// phase, without the CPU.
func fromVegeta(m *vegeta.Metrics) phase {
	codes := make(map[string]uint64, len(m.StatusCodes))
	for c, n := range m.StatusCodes {
		codes[c] = uint64(n)
	}
	return phase{requests: m.Requests, okPerSec: m.Throughput,
		p50: m.Latencies.P50, p95: m.Latencies.P95, p99: m.Latencies.P99, max: m.Latencies.Max,
		errors:      m.Requests - uint64(m.Success*float64(m.Requests)+0.5),
		errorDetail: m.Errors, codes: codes}
}

// acquireArgs are an acquire script's arguments: the license keys and the
// first workstation number not used yet.
func (b *bench) acquireArgs() []string {
	return []string{"keys=" + b.gen.keys(), "base=" + strconv.FormatUint(b.seq.Load()+1, 10)}
}

// wrk runs one phase at a fixed number of connections, as fast as the
// server answers (closed loop).
func (b *bench) wrk(ctx context.Context, script string, d time.Duration, args ...string) (phase, error) {
	before := b.cpu.sample()
	res, wrkCPU, err := b.gen.run(ctx, script, d, args...)
	if err != nil {
		return phase{}, err
	}
	after := b.cpu.sample()
	if res.Seq > b.seq.Load()+1 {
		b.seq.Store(res.Seq - 1)
	}
	p := res.phase()
	// The load generator is wrk plus this process, which only waits for
	// wrk meanwhile: the sum, so nothing the bench spends is left out.
	p.cpu = before.per(after, res.Requests).withLoad(wrkCPU, res.Requests)
	return p, nil
}

// floor runs the acquire script itself through go-redis at the same
// concurrency: what the API would cost if HTTP, JSON, auth, signing and
// logging were free.
func (b *bench) floor(ctx context.Context, rdb *redis.Client, prefix string) (phase, error) {
	script := redis.NewScript(lua.Load().Acquire.Source)
	if err := script.Load(ctx, rdb).Err(); err != nil {
		return phase{}, err
	}
	before := b.cpu.sample()
	results := make(chan *vegeta.Result, 1024)
	var wg sync.WaitGroup
	deadline := time.Now().Add(b.o.duration)
	var seq atomic.Uint64
	for range b.o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				n := seq.Add(1)
				l := b.lics[n%uint64(len(b.lics))]
				base := prefix + "{" + l.id + "}:"
				keys := []string{base + "m", base + "l", base + "i", base + "u", base + "b", base + "e", base + "n", base + "o"}
				fp := fmt.Sprintf("floor-%d", n)
				start := time.Now()
				// The server's own session derivation and per-license
				// limit, so the floor does the same work.
				ses, err := tokens.NewSession(l.id, l.key)
				if err == nil {
					err = script.EvalSha(ctx, rdb, keys, l.hash, fp, ses.Digest, "host-"+fp, fmt.Sprintf("dev-%d", n%500), "", "", "",
						b.o.rateLimit, 2*b.o.rateLimit, ses.Nonce).Err()
				}
				r := &vegeta.Result{Attack: "floor", Timestamp: start, Latency: time.Since(start), Code: 200}
				if err != nil {
					r.Code, r.Error = 0, err.Error()
				}
				results <- r
			}
		}()
	}
	go func() { wg.Wait(); close(results) }()
	var m vegeta.Metrics
	for r := range results {
		m.Add(r)
	}
	m.Close()
	p := fromVegeta(&m)
	p.cpu = before.per(b.cpu.sample(), m.Requests)
	p.cpu.server = -1 // the floor does not involve the server
	return p, nil
}

// profile starts the server's CPU profile for d; the returned function
// waits for it and writes it to path.
func profile(base string, d time.Duration, path string) (func() error, error) {
	type got struct {
		body []byte
		err  error
	}
	ch := make(chan got, 1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
		if err != nil {
			ch <- got{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("pprof: %d %s", resp.StatusCode, b)
		}
		ch <- got{b, err}
	}()
	return func() error {
		g := <-ch
		if g.err != nil {
			return g.err
		}
		return os.WriteFile(path, g.body, 0o644)
	}, nil
}
