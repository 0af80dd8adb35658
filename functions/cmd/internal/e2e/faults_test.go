package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// The fault tests run the server with small timeouts, so an outage of a few
// seconds shows many timed-out calls, and check answers against them.
const (
	// faultRedisTimeout is REDIS_TIMEOUT where Redis is the backend that
	// fails; where it is not, the default (1s) keeps a stalled test process
	// from timing out calls to a healthy Redis.
	faultRedisTimeout   = 500 * time.Millisecond
	faultRequestTimeout = 2 * time.Second // REQUEST_TIMEOUT
	// faultDBTimeout is the database's own bound (database.WithTimeout),
	// longer than the request deadline so that admin calls answering
	// within the request deadline show that deadline at work.
	faultDBTimeout = 4 * time.Second
	// faultSlack is what a loaded 2-core machine running -race may add to
	// any bound: scheduling, not waiting on a backend.
	faultSlack = time.Second
	// faultOutage is how long each backend stays stopped or frozen.
	faultOutage = 3 * time.Second
	// faultRecovery is how soon after the backend returns service must.
	faultRecovery = 2 * time.Second
	faultClients  = 30
	faultSeats    = 5
)

// faultServer serves every function as production wires them on the given
// Redis and PostgreSQL: Redis through backend.OpenRedis (REDIS_TIMEOUT on
// every call), PostgreSQL through database.Open with the database bound,
// and the request deadline (REQUEST_TIMEOUT) on every request.
func faultServer(t *testing.T, redisURL string, redisTimeout time.Duration, dbURL string) *api {
	t.Helper()
	ctx := context.Background()
	rdb, err := backend.OpenRedis(ctx, config.Redis{URL: redisURL, Timeout: redisTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	db, err := database.Open(ctx, dbURL, database.WithTimeout(faultDBTimeout))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	prefix := "fault:"
	b, err := backend.New(rdb, db, prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	authn, err := authnOn(b, config.RateLimit{})
	if err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	// /ready probes as in production: from the addresses, without
	// credentials (compose.Probes), bounded by REDIS_TIMEOUT for Redis.
	probes, err := compose.Probes(config.Config{Redis: config.Redis{URL: redisURL, Timeout: redisTimeout},
		Database: config.Database{URL: dbURL}})
	if err != nil {
		t.Fatal(err)
	}
	fns, err := allHTTP(t, fctx, compose.Deps{Backend: b, Probes: probes, Authn: authn, Root: testRoot(t), Issuer: testIssuer,
		Logger: slog.New(slog.DiscardHandler)},
		func(rb *backend.Backend) (*auth.Authenticator, error) {
			return authnOn(rb, config.RateLimit{})
		})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: logging.New(logs, slog.LevelInfo),
		RequestTimeout: faultRequestTimeout}, fns...))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, b: b, log: logs, prefix: prefix}
}

// answer is one request a load client or checker sent and what came back.
type answer struct {
	op         string
	start, end time.Time
	status     int
	code       string
	retryAfter string
	body       map[string]any
	err        error // no HTTP answer at all (reset, or none within the client's own limit)
}

func (a answer) took() time.Duration { return a.end.Sub(a.start) }

func (a answer) String() string {
	if a.err != nil {
		return fmt.Sprintf("%s at %v: no answer after %v: %v", a.op, a.start.Format("15:04:05.000"), a.took(), a.err)
	}
	return fmt.Sprintf("%s at %v: %d %q (Retry-After %q) after %v", a.op, a.start.Format("15:04:05.000"), a.status, a.code,
		a.retryAfter, a.took().Round(time.Millisecond))
}

// unavailable reports the answer the issue asks of a backend outage.
func (a answer) unavailable() bool {
	return a.err == nil && a.status == http.StatusServiceUnavailable && a.code == "unavailable" && a.retryAfter != ""
}

// faultClient sends requests without failing the test from a goroutine; a
// limit well past the request deadline turns a hang into a recorded error.
var faultClient = &http.Client{
	Timeout:   3 * faultRequestTimeout,
	Transport: &http.Transport{MaxIdleConnsPerHost: 2 * faultClients},
}

func send(base, op, method, path, token string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	a := answer{op: op, start: time.Now()}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		a.err, a.end = err, time.Now()
		return a
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := faultClient.Do(req)
	if err != nil {
		a.err, a.end = err, time.Now()
		return a
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	a.end = time.Now()
	if err != nil {
		a.err = err
		return a
	}
	a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	_ = json.Unmarshal(raw, &a.body)
	if e, ok := a.body["error"].(map[string]any); ok {
		a.code, _ = e["code"].(string)
	}
	return a
}

// seatLoad is faultClients SDK-like clients, each with its own workstation,
// acquiring a seat, heartbeating and releasing it in a loop. A client keeps
// its session through 503s (as the SDK does) and drops it on a 404.
type seatLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	answers []answer
	// granted and released count new sessions and releases that removed
	// one, as the clients saw them: each is one ledger event.
	granted, released int
}

func startLoad(base, key string) *seatLoad {
	l := &seatLoad{stop: make(chan struct{})}
	for i := range faultClients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			fp := fmt.Sprintf("workstation-%d", i)
			sid := ""
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				var a answer
				switch {
				case sid == "":
					a = send(base, "acquire", "POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": fp})
					if a.status == 200 {
						sid, _ = a.body["session_id"].(string)
						if resumed, _ := a.body["resumed"].(bool); !resumed {
							l.count(&l.granted)
						}
					}
				case rand.IntN(3) > 0:
					a = send(base, "heartbeat", "POST", "/v1/heartbeat", "", map[string]any{"session_id": sid})
					if a.status == 404 {
						sid = ""
					}
				default:
					a = send(base, "release", "POST", "/v1/release", "", map[string]any{"session_id": sid})
					if a.status == 200 {
						sid = ""
						if ok, _ := a.body["released"].(bool); ok {
							l.count(&l.released)
						}
					}
				}
				l.mu.Lock()
				l.answers = append(l.answers, a)
				l.mu.Unlock()
				time.Sleep(time.Duration(5+rand.IntN(20)) * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *seatLoad) count(n *int) {
	l.mu.Lock()
	*n++
	l.mu.Unlock()
}

// finish stops the clients and returns every answer they got.
func (l *seatLoad) finish() []answer {
	close(l.stop)
	l.wg.Wait()
	return l.answers
}

// seatSampler counts a license's live sessions in Redis every few
// milliseconds (while Redis answers) and keeps the highest count.
type seatSampler struct {
	stop    chan struct{}
	done    chan struct{}
	highest int
	samples int
}

func sampleSeats(e *seats.Engine, licenseID string) *seatSampler {
	s := &seatSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			n, err := e.Count(context.Background(), []string{licenseID})
			if err == nil {
				s.highest = max(s.highest, n[licenseID])
				s.samples++
			}
		}
	}()
	return s
}

func (s *seatSampler) finish() (highest, samples int) {
	close(s.stop)
	<-s.done
	return s.highest, s.samples
}

// ledgerPeak replays a license's ledger stream as Redis recorded it (one
// entry per seat change, in the order the changes happened) and returns the
// most sessions live at once and the entries by kind.
func ledgerPeak(t *testing.T, redisAddr, prefix, licenseID string) (peak int, kinds map[string]int, ids []string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	entries, err := rdb.XRange(context.Background(), prefix+"{"+licenseID+"}:e", "-", "+").Result()
	if err != nil {
		t.Fatalf("reading the ledger stream: %v", err)
	}
	kinds = map[string]int{}
	live := 0
	for _, e := range entries {
		kind, _ := e.Values["t"].(string)
		kinds[kind]++
		ids = append(ids, e.ID)
		switch kind {
		case seats.EventAcquired:
			live++
		case seats.EventReleased, seats.EventExpired, seats.EventRevoked:
			live--
		}
		peak = max(peak, live)
	}
	return peak, kinds, ids
}

// checkOutage checks every load answer to a request sent while the backend
// was down (from down to up): a 503 unavailable with Retry-After, within
// bound. It returns how many there were.
func checkOutage(t *testing.T, answers []answer, down, up time.Time, bound time.Duration) int {
	t.Helper()
	n, bad := 0, 0
	var slowest time.Duration
	for _, a := range answers {
		if a.start.Before(down) || a.end.After(up) {
			continue
		}
		n++
		slowest = max(slowest, a.took())
		if !a.unavailable() || a.took() > bound {
			if bad++; bad <= 5 {
				t.Errorf("during the outage, want 503 unavailable with Retry-After within %v: %v", bound, a)
			}
		}
	}
	t.Logf("%d answers during the outage, slowest %v (bound %v), %d wrong", n, slowest.Round(time.Millisecond), bound, bad)
	if n < faultClients {
		t.Errorf("only %d requests during the outage: the load did not run", n)
	}
	return n
}

// checkNoHang checks that no answer at all took longer than the request
// deadline (plus slack), and that each was an HTTP answer.
func checkNoHang(t *testing.T, answers []answer) {
	t.Helper()
	var slowest time.Duration
	for _, a := range answers {
		slowest = max(slowest, a.took())
		if a.err != nil || a.took() > faultRequestTimeout+faultSlack {
			t.Errorf("past the request deadline %v: %v", faultRequestTimeout, a)
		}
	}
	t.Logf("%d answers in all, slowest %v", len(answers), slowest.Round(time.Millisecond))
}

// checkServedAfter checks that, from the moment service must be back,
// every load answer is a real one (no 5xx, no transport error).
func checkServedAfter(t *testing.T, answers []answer, from time.Time) {
	t.Helper()
	n, bad := 0, 0
	for _, a := range answers {
		if a.start.Before(from) {
			continue
		}
		n++
		if a.err != nil || a.status >= 500 {
			if bad++; bad <= 5 {
				t.Errorf("after recovery: %v", a)
			}
		}
	}
	if n == 0 {
		t.Errorf("no requests after recovery: the load stopped too early")
	}
}

// firstGrant acquires a seat of probeKey with fresh workstations until one
// is granted and returns when that answer arrived.
func firstGrant(t *testing.T, base, probeKey string, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for i := 0; ; i++ {
		a := send(base, "probe", "POST", "/v1/acquire", "", map[string]any{"license_key": probeKey, "fingerprint": fmt.Sprintf("probe-%d", i)})
		if a.status == 200 {
			return a.end
		}
		if time.Now().After(deadline) {
			t.Fatalf("no seat granted within %v of the backend's return; last: %v", limit, a)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisFaults stops a private redis-server for 3 s under load, killed
// (then restarted on the same port from its append-only file, so the ledger
// survives for the replay; a restart that loses the data is tested
// elsewhere) and frozen with SIGSTOP: every answer meanwhile is a 503
// unavailable with Retry-After within REDIS_TIMEOUT plus slack, nothing
// waits past the request deadline, no license ever has more live sessions
// than seats, and a seat is granted within 2 s of Redis's return.
func TestRedisFaults(t *testing.T) {
	rs := testenv.RestartableRedis(t, true)
	a := faultServer(t, rs.URL(), faultRedisTimeout, testenv.PostgresURL(t))
	tenant := a.tenant("faults")

	for _, fault := range []struct {
		name       string
		down, back func()
	}{
		{"killed", rs.Kill, rs.Start},
		{"frozen", rs.Freeze, rs.Thaw},
	} {
		t.Run(fault.name, func(t *testing.T) {
			a := &api{t: t, srv: a.srv, b: a.b, log: a.log, prefix: a.prefix}
			id, key := a.license(tenant, map[string]any{"seats": faultSeats, "lease_ttl_seconds": 60})
			_, probeKey := a.license(tenant, map[string]any{"seats": 1000, "lease_ttl_seconds": 60})
			a.expect(a.acquire(probeKey, "warm"), 200, "") // its metadata is in Redis, as the load's is after its first acquire

			sampler := sampleSeats(a.b.Seats, id)
			load := startLoad(a.srv.URL, key)
			time.Sleep(time.Second)
			fault.down()
			down := time.Now()
			time.Sleep(faultOutage)
			ready := send(a.srv.URL, "ready", "GET", "/ready", "", nil)
			up := time.Now()
			fault.back()
			back := time.Now()
			granted := firstGrant(t, a.srv.URL, probeKey, faultRecovery+faultSlack)
			time.Sleep(faultRecovery + 500*time.Millisecond)
			answers := load.finish()
			highest, samples := sampler.finish()

			// Requests sent once the outage began and answered before the
			// server was back all met a dead Redis.
			checkOutage(t, answers, down.Add(faultRedisTimeout), up, faultRedisTimeout+faultSlack)
			checkNoHang(t, answers)
			checkServedAfter(t, answers, back.Add(faultRecovery))
			if took := granted.Sub(back); took > faultRecovery {
				t.Errorf("first seat granted %v after Redis returned, want within %v", took, faultRecovery)
			} else {
				t.Logf("first seat granted %v after Redis returned", took.Round(time.Millisecond))
			}
			if ready.status != 503 || ready.code != "not_ready" || ready.retryAfter == "" ||
				ready.took() > faultRedisTimeout+faultSlack {
				t.Errorf("/ready during the outage: %v", ready)
			} else if checks, _ := ready.body["checks"].(map[string]any); checks["redis"] != "unavailable" {
				t.Errorf("/ready during the outage names no Redis failure: %v", ready.body)
			}

			peak, kinds, _ := ledgerPeak(t, rs.Addr(), a.prefix, id)
			t.Logf("ledger %v; peak live %d; sampler highest %d over %d samples; clients saw %d granted, %d released",
				kinds, peak, highest, samples, load.granted, load.released)
			if peak > faultSeats || highest > faultSeats {
				t.Errorf("over-allocated: ledger peak %d, sampled %d live sessions on %d seats", peak, highest, faultSeats)
			}
			if kinds[seats.EventAcquired] < faultSeats || samples == 0 {
				t.Errorf("the load never filled the seats: ledger %v, %d samples", kinds, samples)
			}
		})
	}
}

// TestRedisCallsBoundedWhenFrozen: with Redis frozen, every call through
// the production client fails within REDIS_TIMEOUT (plus slack), including
// the calls that first wait for one of the pool's connections: go-redis
// would otherwise retry a timed-out read and wait for the pool again,
// several times REDIS_TIMEOUT.
func TestRedisCallsBoundedWhenFrozen(t *testing.T) {
	rs := testenv.RestartableRedis(t, false)
	rdb, err := backend.OpenRedis(context.Background(), config.Redis{URL: rs.URL() + "?pool_size=2", Timeout: faultRedisTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rs.Freeze()
	defer rs.Thaw()
	const calls = 20 // ten times the pool: most wait for a connection first
	errs := make(chan error, calls)
	took := make(chan time.Duration, calls)
	for range calls {
		go func() {
			began := time.Now()
			err := rdb.Get(context.Background(), "k").Err()
			took <- time.Since(began)
			errs <- err
		}()
	}
	var slowest time.Duration
	for range calls {
		d, err := <-took, <-errs
		slowest = max(slowest, d)
		if err == nil || !httpjson.Unavailable(err) {
			t.Errorf("call on a frozen Redis: %v, want an error answered as 503", err)
		}
	}
	t.Logf("slowest of %d calls on a frozen Redis: %v", calls, slowest.Round(time.Millisecond))
	if slowest > faultRedisTimeout+faultSlack/2 {
		t.Errorf("a call on a frozen Redis took %v, want within REDIS_TIMEOUT %v (+ slack)", slowest, faultRedisTimeout)
	}
}

// TestPostgresFaults stops, then freezes, a private PostgreSQL under load.
// Acquire, heartbeat and release on licenses Redis knows keep answering;
// admin calls answer 503 unavailable with Retry-After within the request
// deadline; /ready names postgres; cleanup runs fail retryably (and, frozen,
// within the database bound); once PostgreSQL is back, cleanup stores every
// ledger event the load produced exactly once.
func TestPostgresFaults(t *testing.T) {
	pg := testenv.PrivatePostgres(t)
	rs := testenv.RestartableRedis(t, false)
	a := faultServer(t, rs.URL(), time.Second, pg.URL())
	tenant := a.tenant("faults")
	id, key := a.license(tenant, map[string]any{"seats": faultSeats, "lease_ttl_seconds": 60})
	path := "/v1/tenants/" + tenant + "/licenses"
	admin := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/tenants", nil},
		{"GET", path, nil},
		{"GET", path + "/" + id, nil},
		{"POST", "/v1/tenants", map[string]any{"name": "New", "slug": "new"}},
		{"POST", path, map[string]any{"product": "coditect", "seats": 3}},
	}

	load := startLoad(a.srv.URL, key)
	phase := func(t *testing.T, name string, down, back func() error) {
		t.Helper()
		time.Sleep(time.Second)
		if err := down(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		began := time.Now()
		t.Logf("%s: PostgreSQL down at %s", name, began.Format("15:04:05.000"))

		// Admin calls from a few callers at once, until the outage ends.
		var mu sync.Mutex
		var adminAnswers []answer
		var wg sync.WaitGroup
		// One caller per admin route, so each is seen failing even when
		// every call waits out the whole request deadline (frozen).
		for c := range admin {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i == c || time.Since(began) < faultOutage-faultRequestTimeout; i++ {
					r := admin[i%len(admin)]
					ans := send(a.srv.URL, r.method+" "+r.path, r.method, r.path, adminToken, r.body)
					mu.Lock()
					adminAnswers = append(adminAnswers, ans)
					mu.Unlock()
				}
			}()
		}
		var ready answer
		var runErr error
		var runTook time.Duration
		wg.Add(2)
		go func() {
			defer wg.Done()
			ready = send(a.srv.URL, "ready", "GET", "/ready", "", nil)
		}()
		go func() {
			defer wg.Done()
			runBegan := time.Now()
			_, runErr = a.b.Cleaner.Run(context.Background())
			runTook = time.Since(runBegan)
		}()
		wg.Wait()
		for time.Since(began) < faultOutage {
			time.Sleep(10 * time.Millisecond)
		}
		if err := back(); err != nil {
			t.Fatalf("%s: bringing PostgreSQL back: %v", name, err)
		}
		backAt := time.Now()

		for _, ans := range adminAnswers {
			if !ans.unavailable() || ans.took() > faultRequestTimeout+faultSlack {
				t.Errorf("%s: admin call, want 503 unavailable with Retry-After within %v: %v", name, faultRequestTimeout, ans)
			}
		}
		if len(adminAnswers) < len(admin) {
			t.Errorf("%s: only %d admin calls during the outage", name, len(adminAnswers))
		}
		if ready.status != 503 || ready.code != "not_ready" || ready.took() > faultRequestTimeout+faultSlack {
			t.Errorf("%s: /ready: %v", name, ready)
		} else if checks, _ := ready.body["checks"].(map[string]any); checks["postgres"] != "unavailable" || checks["redis"] != "ok" {
			t.Errorf("%s: /ready checks %v, want postgres unavailable and redis ok", name, ready.body)
		}
		if runErr == nil || !httpjson.Unavailable(runErr) {
			t.Errorf("%s: cleanup run = %v, want an error a retry can fix", name, runErr)
		}
		if runTook > faultDBTimeout+faultSlack {
			t.Errorf("%s: cleanup run took %v, want within the database bound %v", name, runTook, faultDBTimeout)
		}
		t.Logf("%s: %d admin answers; cleanup run failed after %v: %v", name, len(adminAnswers), runTook.Round(time.Millisecond), runErr)

		// Admin calls work again soon after.
		deadline := backAt.Add(faultRecovery + faultSlack)
		for {
			r := send(a.srv.URL, "GET tenants", "GET", "/v1/tenants", adminToken, nil)
			if r.status == 200 {
				t.Logf("%s: admin calls answered again %v after PostgreSQL returned", name, r.end.Sub(backAt).Round(time.Millisecond))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: admin calls still failing %v after PostgreSQL returned: %v", name, faultRecovery+faultSlack, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("stopped", func(t *testing.T) {
		phase(t, "stopped", pg.Stop, func() error { return pg.Start(context.Background()) })
	})
	t.Run("frozen", func(t *testing.T) {
		phase(t, "frozen", pg.Freeze, pg.Thaw)
	})
	time.Sleep(500 * time.Millisecond)
	answers := load.finish()
	clientGranted, clientReleased := load.granted, load.released

	// The hot path never needed PostgreSQL: every answer, outages included,
	// was a real one and quick.
	ok, bad := 0, 0
	for _, ans := range answers {
		if ans.status == 200 {
			ok++
		}
		if ans.err != nil || ans.status >= 500 || ans.took() > time.Second+faultSlack {
			if bad++; bad <= 5 {
				t.Errorf("hot path with PostgreSQL down or frozen: %v", ans)
			}
		}
	}
	if ok < 10*faultClients {
		t.Errorf("only %d successful hot-path calls: the load did not run", ok)
	}

	// Exactly once: the ledger as Redis holds it now (nothing was drained:
	// every run so far failed) is what PostgreSQL holds after the drains.
	_, kinds, ids := ledgerPeak(t, rs.Addr(), a.prefix, id)
	if kinds[seats.EventAcquired] != clientGranted || kinds[seats.EventReleased] != clientReleased {
		t.Errorf("ledger %v, but clients were granted %d seats and released %d", kinds, clientGranted, clientReleased)
	}
	for i := 0; ; i++ {
		res, err := a.b.Cleaner.Run(context.Background())
		if err != nil {
			t.Fatalf("cleanup after PostgreSQL returned: %v", err)
		}
		if res.Complete && res.Read == 0 {
			break
		}
		if i > 10 {
			t.Fatalf("cleanup does not finish: %+v", res)
		}
	}
	conn, err := pgx.Connect(context.Background(), pg.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT stream_id, kind FROM usage_events WHERE license_id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	storedKinds := map[string]int{}
	for rows.Next() {
		var sid, kind string
		if err := rows.Scan(&sid, &kind); err != nil {
			t.Fatal(err)
		}
		stored[sid]++
		storedKinds[kind]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, sid := range ids {
		if stored[sid] != 1 {
			missing++
		}
	}
	t.Logf("ledger %v; stored %v", kinds, storedKinds)
	if missing > 0 || len(stored) != len(ids) || len(ids) == 0 {
		t.Errorf("%d of %d ledger entries not stored exactly once (%d rows stored)", missing, len(ids), len(stored))
	}
	if storedKinds[seats.EventAcquired] != clientGranted || storedKinds[seats.EventReleased] != clientReleased {
		t.Errorf("stored %v, but clients were granted %d seats and released %d", storedKinds, clientGranted, clientReleased)
	}

	// A statement made with a context that has no deadline (as a store's
	// inside a background transaction) on a server that froze after the
	// transaction began still fails within the database bound.
	const bound = time.Second
	db, err := database.Open(context.Background(), pg.URL(), database.WithTimeout(bound))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var took time.Duration
	err = db.InTx(context.Background(), func(tx pgx.Tx) error {
		if err := pg.Freeze(); err != nil {
			return err
		}
		defer pg.Thaw()
		began := time.Now()
		_, err := tx.Exec(context.Background(), `SELECT 1`)
		took = time.Since(began)
		return err
	})
	t.Logf("statement on a frozen server failed after %v: %v", took.Round(time.Millisecond), err)
	if err == nil || !httpjson.Unavailable(err) || took > bound+faultSlack {
		t.Errorf("statement on a frozen server: %v after %v, want an unavailable error within %v", err, took, bound)
	}
}
