package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// license is one bench license: its id and key.
type license struct{ id, key, hash string }

func run(ctx context.Context, o options) error {
	opts, err := redis.ParseURL(o.redisURL)
	if err != nil {
		return err
	}
	opts.PoolSize = o.conns * 2
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("Redis at %s: %w", o.redisURL, err)
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

	b := &bench{o: o, srv: srv, lics: lics, cpu: newCPUMeter(ctx, rdb, srv.cmd.Process.Pid)}
	if o.serve != "" {
		var keys strings.Builder
		for _, l := range lics {
			keys.WriteString(l.key + "\n")
		}
		if err := os.WriteFile(o.serve, []byte(keys.String()), 0o600); err != nil {
			return err
		}
		fmt.Printf("bench: serving on %s; license keys in %s; interrupt to stop\n", srv.url, o.serve)
		<-ctx.Done()
		return nil
	}
	// Warm-up: every license's metadata into Redis (the one PostgreSQL read
	// each), connections open.
	b.attack("warm-up", 2*time.Second, b.acquireTargeter(), nil)

	hotPath := []string{`function="Acquire"`, `function="Heartbeat"`, `function="Release"`}
	pgBefore, pgAllBefore := srv.counter("license_postgres_queries_total", hotPath...), srv.counter("license_postgres_queries_total")
	kmsBefore := srv.counter("license_kms_calls_total")
	var stopProfile func() error
	if o.cpuProfile != "" {
		if stopProfile, err = profile(srv.url, o.duration, o.cpuProfile); err != nil {
			return err
		}
	}
	var sessions sessionPool
	acq := b.attack("acquire", o.duration, b.acquireTargeter(), sessions.collect)
	if stopProfile != nil {
		if err := stopProfile(); err != nil {
			return err
		}
	}
	hb := b.attack("heartbeat", o.duration, sessions.targeter(srv.url+"/v1/heartbeat", true), nil)
	rel := b.attack("release", o.duration, sessions.targeter(srv.url+"/v1/release", false), nil)
	cyc := newCycle(srv.url, b)
	cycle := b.attack("cycle", o.duration, cyc.targeter(), cyc.observe)
	pgAfter, pgAllAfter := srv.counter("license_postgres_queries_total", hotPath...), srv.counter("license_postgres_queries_total")
	kmsAfter := srv.counter("license_kms_calls_total")

	floor, err := b.floor(ctx, rdb, prefix)
	if err != nil {
		return err
	}

	report(os.Stdout, []row{
		{"acquire", acq, floor}, {"heartbeat", hb, floor}, {"release", rel, floor},
		{"cycle (acquire, 3 heartbeats, release)", cycle, floor}, {"floor: acquire script via go-redis", floor, floor},
	})
	if pgBefore >= 0 {
		fmt.Printf("\nDuring the measured phases (%d requests): PostgreSQL queries made by acquire, heartbeat or release: %.0f; "+
			"by background work (the batched workstation recorder): %.0f; KMS calls: %.0f\n",
			acq.Requests+hb.Requests+rel.Requests+cycle.Requests, pgAfter-pgBefore, (pgAllAfter-pgAllBefore)-(pgAfter-pgBefore), kmsAfter-kmsBefore)
	} else {
		fmt.Println("\n(the server exports no license_postgres_queries_total / license_kms_calls_total counters)")
	}
	fmt.Printf("RESULT acquire_rps=%.0f heartbeat_rps=%.0f release_rps=%.0f floor_rps=%.0f acquire_ratio=%.3f heartbeat_ratio=%.3f acquire_p99_ms=%.2f\n",
		acq.Throughput, hb.Throughput, rel.Throughput, floor.Throughput,
		acq.Throughput/floor.Throughput, hb.Throughput/floor.Throughput, ms(acq.Latencies.P99))
	return nil
}

// setup creates a tenant and the licenses through the admin API.
func setup(base string, n int) ([]license, error) {
	var tenant struct{ ID string }
	if err := post(base+"/v1/tenants", adminToken, `{"name":"Bench","slug":"bench"}`, &tenant); err != nil {
		return nil, err
	}
	out := make([]license, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range out {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var l struct{ ID, Key string }
			err := post(base+"/v1/tenants/"+tenant.ID+"/licenses", adminToken,
				`{"product":"bench","seats":100000,"lease_ttl_seconds":300}`, &l)
			if err != nil {
				errs <- err
				return
			}
			_, hash, err := tokens.ParseLicenseKey(l.Key)
			if err != nil {
				errs <- err
				return
			}
			out[i] = license{id: l.ID, key: l.Key, hash: hash}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("creating licenses: %w", err)
	}
	return out, nil
}

func post(url, token, body string, out any) error {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
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
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

type bench struct {
	o    options
	srv  *server
	lics []license
	seq  atomic.Uint64 // makes every workstation fingerprint new
	cpu  cpuMeter
}

// phase is one measured phase: vegeta's metrics and the CPU each request
// cost the server, Redis and the load generator (this process).
type phase struct {
	*vegeta.Metrics
	cpu perRequest
}

var jsonHeader = http.Header{"Content-Type": []string{"application/json"}}

// acquireTargeter asks for a seat of a license in turn for a workstation
// never seen before: every acquire is a grant, with a signed lease.
func (b *bench) acquireTargeter() vegeta.Targeter {
	url := b.srv.url + "/v1/acquire"
	return func(t *vegeta.Target) error {
		n := b.seq.Add(1)
		l := b.lics[n%uint64(len(b.lics))]
		t.Method, t.URL, t.Header = http.MethodPost, url, jsonHeader
		t.Body = fmt.Appendf(nil, `{"license_key":"%s","fingerprint":"ws-%d","hostname":"host-%d","user":"dev-%d"}`, l.key, n, n, n%500)
		return nil
	}
}

// attack runs one phase at a fixed number of connections, as fast as the
// server answers (closed loop), and returns vegeta's metrics.
func (b *bench) attack(name string, d time.Duration, tr vegeta.Targeter, observe func(*vegeta.Result)) phase {
	before := b.cpu.sample()
	atk := vegeta.NewAttacker(vegeta.Workers(uint64(b.o.conns)), vegeta.MaxWorkers(uint64(b.o.conns)),
		vegeta.Connections(b.o.conns), vegeta.KeepAlive(true), vegeta.Timeout(10*time.Second))
	var m vegeta.Metrics
	for r := range atk.Attack(tr, vegeta.Rate{Freq: 0}, d, name) {
		if r.Error == vegeta.ErrNoTargets.Error() {
			continue // the phase ran out of sessions: no request was sent
		}
		if observe != nil {
			observe(r)
		}
		r.Body = nil
		m.Add(r)
	}
	m.Close()
	return phase{Metrics: &m, cpu: before.per(b.cpu.sample(), m.Requests)}
}

// sessionPool keeps the session ids the acquire phase was granted.
type sessionPool struct {
	mu  sync.Mutex
	ids []string
}

func (p *sessionPool) collect(r *vegeta.Result) {
	if id := sessionID(r); id != "" {
		p.mu.Lock()
		p.ids = append(p.ids, id)
		p.mu.Unlock()
	}
}

// targeter heartbeats the sessions round robin, or (heartbeat false)
// releases each once; it ends the phase when there is none left.
func (p *sessionPool) targeter(url string, again bool) vegeta.Targeter {
	var next atomic.Uint64
	return func(t *vegeta.Target) error {
		i := next.Add(1) - 1
		if len(p.ids) == 0 || (!again && i >= uint64(len(p.ids))) {
			return vegeta.ErrNoTargets
		}
		t.Method, t.URL, t.Header = http.MethodPost, url, jsonHeader
		t.Body = fmt.Appendf(nil, `{"session_id":"%s"}`, p.ids[i%uint64(len(p.ids))])
		return nil
	}
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

// cycle is the life of a session as the SDK lives it: acquire, heartbeat
// three times, release. Work waiting for a session goes first; otherwise a
// new workstation acquires.
type cycle struct {
	b       *bench
	acquire vegeta.Targeter
	hbURL   string
	relURL  string
	mu      sync.Mutex
	todo    []step         // sessions whose next call may go now
	waiting map[string]int // sessions with a call in flight: heartbeats left after it
}

type step struct {
	session string
	beats   int // heartbeats still to send; then the release
}

func newCycle(base string, b *bench) *cycle {
	return &cycle{b: b, acquire: b.acquireTargeter(), hbURL: base + "/v1/heartbeat", relURL: base + "/v1/release",
		waiting: map[string]int{}}
}

func (c *cycle) targeter() vegeta.Targeter {
	return func(t *vegeta.Target) error {
		c.mu.Lock()
		if len(c.todo) == 0 {
			c.mu.Unlock()
			return c.acquire(t)
		}
		s := c.todo[len(c.todo)-1]
		c.todo = c.todo[:len(c.todo)-1]
		if s.beats > 0 {
			// The next call waits for this heartbeat's answer: a session's
			// calls are sequential, as an SDK's are.
			c.waiting[s.session] = s.beats - 1
		}
		c.mu.Unlock()
		t.Method, t.Header = http.MethodPost, jsonHeader
		t.URL = c.relURL
		if s.beats > 0 {
			t.URL = c.hbURL
		}
		t.Body = fmt.Appendf(nil, `{"session_id":"%s"}`, s.session)
		return nil
	}
}

func (c *cycle) observe(r *vegeta.Result) {
	id := sessionID(r)
	if id == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.URL {
	case c.hbURL:
		if left, ok := c.waiting[id]; ok {
			delete(c.waiting, id)
			c.todo = append(c.todo, step{id, left})
		}
	default:
		c.todo = append(c.todo, step{id, 3})
	}
}

// floor runs the acquire script itself through go-redis at the same
// concurrency: what the API would cost if HTTP, JSON, auth, signing and
// logging were free.
func (b *bench) floor(ctx context.Context, rdb *redis.Client, prefix string) (phase, error) {
	script := redis.NewScript(lua.Source()[lua.NameAcquire])
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
				keys := []string{base + "m", base + "l", base + "i", base + "u", base + "b", base + "e"}
				_, token, _ := tokens.NewSessionID(l.id)
				fp := fmt.Sprintf("floor-%d", n)
				start := time.Now()
				// The server's own per-license limit, so the floor does the
				// same work in the script.
				err := script.EvalSha(ctx, rdb, keys, l.hash, fp, token, "host-"+fp, fmt.Sprintf("dev-%d", n%500), "", "", "",
					b.o.rateLimit, 2*b.o.rateLimit).Err()
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
	cpu := before.per(b.cpu.sample(), m.Requests)
	cpu.server = -1 // the floor does not involve the server
	return phase{Metrics: &m, cpu: cpu}, nil
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
