package idempotency_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/idempotency"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// target is a handler that counts its runs and echoes what it was sent.
type target struct {
	runs atomic.Int64
	// status answers run n (1-based) with status(n); 201 when nil.
	status func(n int64) int
	// during, when set, is called inside each run.
	during func(r *http.Request)
}

func (tg *target) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := tg.runs.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if tg.during != nil {
		tg.during(r)
	}
	status := http.StatusCreated
	if tg.status != nil {
		status = tg.status(n)
	}
	w.Header().Set("Location", "/v1/things/"+strconv.FormatInt(n, 10))
	w.Header().Set("X-Not-Kept", "transport detail")
	w.Header().Set("RateLimit-Remaining", "1")
	httpjson.Write(w, status, map[string]any{"run": n, "body": string(body), "secret": "sk_shown_once_" + strconv.FormatInt(n, 10)})
}

// store makes a store on the shared test Redis under a fresh prefix.
func store(t *testing.T, c idempotency.Config) (*idempotency.Store, *redis.Client, string) {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	c.Redis, c.Prefix = rdb, prefix
	s, err := idempotency.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s, rdb, prefix
}

// req is one request to send.
type req struct {
	key   string // "" sends no header
	auth  string
	path  string // default /v1/things
	body  string
	extra []string // further Idempotency-Key values
}

func send(h http.Handler, q req) *httptest.ResponseRecorder {
	path := q.path
	if path == "" {
		path = "/v1/things"
	}
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(q.body))
	r.Header.Set("Content-Type", "application/json")
	if q.key != "" {
		r.Header.Set(idempotency.Header, q.key)
	}
	for _, k := range q.extra {
		r.Header.Add(idempotency.Header, k)
	}
	if q.auth != "" {
		r.Header.Set("Authorization", q.auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// code is the error envelope's code of an answer, "" when it has none.
func code(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var v struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body)
	}
	if w.Code >= 400 && (v.Error.Code == "" || v.Error.Message == "") {
		t.Fatalf("%d without the error envelope: %s", w.Code, w.Body)
	}
	return v.Error.Code
}

func expectError(t *testing.T, w *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if w.Code != status || code(t, w) != want {
		t.Fatalf("got %d %s; want %d %s", w.Code, w.Body, status, want)
	}
}

// sameAnswer checks a replay repeats the first answer: status, body and
// the kept headers, and says it is a replay.
func sameAnswer(t *testing.T, first, again *httptest.ResponseRecorder) {
	t.Helper()
	if again.Code != first.Code || again.Body.String() != first.Body.String() {
		t.Fatalf("replay %d %s; first was %d %s", again.Code, again.Body, first.Code, first.Body)
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Location"} {
		if again.Header().Get(h) != first.Header().Get(h) || first.Header().Get(h) == "" {
			t.Fatalf("replayed %s %q; first %q", h, again.Header().Get(h), first.Header().Get(h))
		}
	}
	if again.Header().Get(idempotency.ReplayedHeader) != "true" || first.Header().Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("%s: first %q, replay %q", idempotency.ReplayedHeader,
			first.Header().Get(idempotency.ReplayedHeader), again.Header().Get(idempotency.ReplayedHeader))
	}
	if again.Header().Get("Content-Length") != strconv.Itoa(again.Body.Len()) {
		t.Fatalf("replay Content-Length %q for %d bytes", again.Header().Get("Content-Length"), again.Body.Len())
	}
}

func TestRetryReplaysTheFirstAnswer(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	tg := &target{}
	h := s.Wrap(tg, nil)
	q := req{key: "k-1", auth: "Bearer a", body: `{"name":"x"}`}
	first := send(h, q)
	if first.Code != http.StatusCreated || !strings.Contains(first.Body.String(), `"body":"{\"name\":\"x\"}"`) {
		t.Fatalf("first = %d %s (the handler must see the body it was sent)", first.Code, first.Body)
	}
	for range 3 {
		again := send(h, q)
		sameAnswer(t, first, again)
		if again.Header().Get("X-Not-Kept") != "" {
			t.Fatal("a transport header was replayed")
		}
	}
	if n := tg.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times; want 1", n)
	}
	// Another key is another request.
	if other := send(h, req{key: "k-2", auth: "Bearer a", body: `{"name":"x"}`}); other.Code != 201 || tg.runs.Load() != 2 {
		t.Fatalf("a new key: %d %s after %d runs", other.Code, other.Body, tg.runs.Load())
	}
}

// countHook counts the commands a client sends.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestWithoutKeyNoRedisCall(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	hook := &countHook{}
	rdb.AddHook(hook)
	s, err := idempotency.New(idempotency.Config{Redis: rdb, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{}
	h := s.Wrap(tg, nil)
	for i := range 5 {
		w := send(h, req{auth: "Bearer a", body: `{"same":true}`})
		if w.Code != 201 || w.Header().Get(idempotency.ReplayedHeader) != "" || tg.runs.Load() != int64(i+1) {
			t.Fatalf("request %d without a key: %d %s, %d runs", i, w.Code, w.Body, tg.runs.Load())
		}
	}
	if n := hook.n.Load(); n != 0 {
		t.Fatalf("requests without %s sent %d Redis commands; want 0", idempotency.Header, n)
	}
	// The hook does count: a request with a key holds and finishes (an
	// EVAL follows the EVALSHA when Redis has not seen the script yet).
	send(h, req{key: "k", auth: "Bearer a", body: `{}`})
	if n := hook.n.Load(); n < 2 || n > 3 {
		t.Fatalf("a first request with a key sent %d Redis commands; want 2 (3 on a new Redis)", n)
	}
}

func TestSameKeyOtherBody(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	tg := &target{}
	h := s.Wrap(tg, nil)
	first := send(h, req{key: "k", auth: "Bearer a", body: `{"seats":1}`})
	w := send(h, req{key: "k", auth: "Bearer a", body: `{"seats":2}`})
	expectError(t, w, http.StatusUnprocessableEntity, "idempotency_key_reused")
	sameAnswer(t, first, send(h, req{key: "k", auth: "Bearer a", body: `{"seats":1}`}))
	if n := tg.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times; want 1", n)
	}
}

func TestScope(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	tg := &target{}
	h := s.Wrap(tg, nil)
	a := send(h, req{key: "k", auth: "Bearer alice", body: `{}`})
	b := send(h, req{key: "k", auth: "Bearer bob", body: `{}`})
	p := send(h, req{key: "k", auth: "Bearer alice", path: "/v1/other", body: `{}`})
	if a.Code != 201 || b.Code != 201 || p.Code != 201 || tg.runs.Load() != 3 {
		t.Fatalf("other caller or path did not run on its own: %d %d %d, %d runs", a.Code, b.Code, p.Code, tg.runs.Load())
	}
	// Each replays its own answer.
	sameAnswer(t, a, send(h, req{key: "k", auth: "Bearer alice", body: `{}`}))
	sameAnswer(t, b, send(h, req{key: "k", auth: "Bearer bob", body: `{}`}))
	if tg.runs.Load() != 3 {
		t.Fatalf("%d runs after the replays; want 3", tg.runs.Load())
	}
}

// TestCallerInBody: callers named by the body (acquire's license key)
// with no Authorization never meet, even on one key.
func TestCallerInBody(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	licenseKey := func(body []byte) string {
		var v struct {
			LicenseKey string `json:"license_key"`
		}
		json.Unmarshal(body, &v) //nolint:errcheck // not JSON: names no one
		return v.LicenseKey
	}
	tg := &target{}
	h := s.Wrap(tg, licenseKey)
	a := send(h, req{key: "retry-1", body: `{"license_key":"lk_a","fingerprint":"f"}`})
	b := send(h, req{key: "retry-1", body: `{"license_key":"lk_b","fingerprint":"f"}`})
	if a.Code != 201 || b.Code != 201 || tg.runs.Load() != 2 {
		t.Fatalf("two license keys on one Idempotency-Key: %d %d, %d runs", a.Code, b.Code, tg.runs.Load())
	}
	sameAnswer(t, a, send(h, req{key: "retry-1", body: `{"license_key":"lk_a","fingerprint":"f"}`}))
	// The same caller changing the body is a reuse.
	expectError(t, send(h, req{key: "retry-1", body: `{"license_key":"lk_a","fingerprint":"g"}`}), 422, "idempotency_key_reused")
	// Without a Caller, the second license key would have met the first.
	plain := s.Wrap(&target{}, nil)
	send(plain, req{key: "retry-2", body: `{"license_key":"lk_a"}`})
	expectError(t, send(plain, req{key: "retry-2", body: `{"license_key":"lk_b"}`}), 422, "idempotency_key_reused")
}

func TestDuplicateWhileRunning(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	entered, release := make(chan struct{}), make(chan struct{})
	tg := &target{during: func(*http.Request) { close(entered); <-release }}
	h := s.Wrap(tg, nil)
	q := req{key: "k", auth: "Bearer a", body: `{"n":1}`}
	firstDone := make(chan *httptest.ResponseRecorder)
	go func() { firstDone <- send(h, q) }()
	<-entered
	var wg sync.WaitGroup
	for range 19 {
		wg.Go(func() {
			w := send(h, q)
			if w.Code != http.StatusConflict || code(t, w) != "idempotency_key_in_progress" || w.Header().Get("Retry-After") != "1" {
				t.Errorf("a duplicate while the first runs: %d %s Retry-After %q", w.Code, w.Body, w.Header().Get("Retry-After"))
			}
		})
	}
	wg.Wait()
	// Another body while it runs is still a reuse, not a wait.
	expectError(t, send(h, req{key: "k", auth: "Bearer a", body: `{"n":2}`}), 422, "idempotency_key_reused")
	close(release)
	first := <-firstDone
	sameAnswer(t, first, send(h, q))
	if n := tg.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times; want 1", n)
	}
}

// TestConcurrentDuplicates races 20 identical requests: one runs, the rest
// wait out (409) or get its answer.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	tg := &target{during: func(*http.Request) { time.Sleep(20 * time.Millisecond) }}
	h := s.Wrap(tg, nil)
	q := req{key: "race", auth: "Bearer a", body: `{"n":1}`}
	start := make(chan struct{})
	answers := make([]*httptest.ResponseRecorder, 20)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i] = send(h, q)
		})
	}
	close(start)
	wg.Wait()
	if n := tg.runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times; want 1", n)
	}
	var created []*httptest.ResponseRecorder
	for _, w := range answers {
		switch w.Code {
		case http.StatusCreated:
			created = append(created, w)
		case http.StatusConflict:
			expectError(t, w, 409, "idempotency_key_in_progress")
		default:
			t.Fatalf("a duplicate got %d %s", w.Code, w.Body)
		}
	}
	if len(created) == 0 {
		t.Fatal("no request got the answer")
	}
	for _, w := range created[1:] {
		if w.Body.String() != created[0].Body.String() {
			t.Fatalf("two answers: %s and %s", created[0].Body, w.Body)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	tg := &target{}
	h := s.Wrap(tg, nil)
	for name, q := range map[string]req{
		"too long":    {key: strings.Repeat("k", idempotency.MaxKeyLen+1)},
		"space":       {key: "a b"},
		"tab":         {key: "a\tb"},
		"non-ASCII":   {key: "clé"},
		"DEL":         {key: "a\x7f"},
		"two headers": {key: "a", extra: []string{"b"}},
		"empty":       {extra: []string{""}},
	} {
		q.auth, q.body = "Bearer a", `{}`
		w := send(h, q)
		if w.Code != http.StatusBadRequest || code(t, w) != "invalid_idempotency_key" {
			t.Errorf("%s: %d %s; want 400 invalid_idempotency_key", name, w.Code, w.Body)
		}
	}
	if n := tg.runs.Load(); n != 0 {
		t.Fatalf("the handler ran %d times on invalid keys", n)
	}
	for _, k := range []string{strings.Repeat("~", idempotency.MaxKeyLen), "!", `"quoted"`, "0f8fad5b-d9cb-469f-a165-70867728950e"} {
		if w := send(h, req{key: k, auth: "Bearer a", body: `{}`}); w.Code != 201 {
			t.Errorf("valid key %q: %d %s", k, w.Code, w.Body)
		}
	}
}

func TestRedisDownFailsClosed(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dead := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	s, err := idempotency.New(idempotency.Config{Redis: dead, Prefix: "test:down:"})
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{}
	h := s.Wrap(tg, nil)
	w := send(h, req{key: "k", auth: "Bearer a", body: `{}`})
	expectError(t, w, http.StatusServiceUnavailable, "unavailable")
	if w.Header().Get("Retry-After") == "" || tg.runs.Load() != 0 {
		t.Fatalf("503 with Retry-After %q after %d runs", w.Header().Get("Retry-After"), tg.runs.Load())
	}
	// Without the header nothing needs Redis.
	if w := send(h, req{auth: "Bearer a", body: `{}`}); w.Code != 201 || tg.runs.Load() != 1 {
		t.Fatalf("without a key while Redis is down: %d %s", w.Code, w.Body)
	}
}

// TestAnswersNotKept: an answer a retry must be free to change (5xx, 401,
// 429) is not kept, so the retry runs; other 4xx are.
func TestAnswersNotKept(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := store(t, idempotency.Config{})
	seq := []int{500, 503, 401, 429, 200}
	tg := &target{status: func(n int64) int { return seq[n-1] }}
	h := s.Wrap(tg, nil)
	q := req{key: "k", auth: "Bearer a", body: `{}`}
	for i, want := range seq {
		w := send(h, q)
		if w.Code != want || w.Header().Get(idempotency.ReplayedHeader) != "" || tg.runs.Load() != int64(i+1) {
			t.Fatalf("try %d: %d (replayed %q) after %d runs; want %d from a new run", i+1, w.Code,
				w.Header().Get(idempotency.ReplayedHeader), tg.runs.Load(), want)
		}
		if want != 200 {
			if keys, err := rdb.Keys(context.Background(), prefix+"*").Result(); err != nil || len(keys) != 0 {
				t.Fatalf("after a %d, Redis holds %v (%v); want no record", want, keys, err)
			}
		}
	}
	last := send(h, q)
	if last.Code != 200 || last.Header().Get(idempotency.ReplayedHeader) != "true" || tg.runs.Load() != 5 {
		t.Fatalf("after the 200: %d replayed %q, %d runs", last.Code, last.Header().Get(idempotency.ReplayedHeader), tg.runs.Load())
	}

	conflict := &target{status: func(int64) int { return http.StatusConflict }}
	hc := s.Wrap(conflict, nil)
	first := send(hc, req{key: "c", auth: "Bearer a", body: `{}`})
	sameAnswer(t, first, send(hc, req{key: "c", auth: "Bearer a", body: `{}`}))
	if conflict.runs.Load() != 1 {
		t.Fatalf("a 409 answer was not kept: %d runs", conflict.runs.Load())
	}
}

func TestPanicLetsARetryRun(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := store(t, idempotency.Config{})
	tg := &target{during: func(r *http.Request) {
		if r.Header.Get("X-Boom") != "" {
			panic("boom")
		}
	}}
	h := s.Wrap(tg, nil)
	r := httptest.NewRequest(http.MethodPost, "/v1/things", strings.NewReader(`{}`))
	r.Header.Set(idempotency.Header, "k")
	r.Header.Set("X-Boom", "1")
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v; want the handler's panic to go on", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), r)
	}()
	if keys, err := rdb.Keys(context.Background(), prefix+"*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("after a panic Redis holds %v (%v)", keys, err)
	}
	if w := send(h, req{key: "k", body: `{}`}); w.Code != 201 || tg.runs.Load() != 2 {
		t.Fatalf("retry after a panic: %d, %d runs", w.Code, tg.runs.Load())
	}
}

// TestRecordsRevealNothing: Redis holds neither the answer (which carries
// secrets shown once), the body, the key nor the credential in clear.
func TestRecordsRevealNothing(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := store(t, idempotency.Config{})
	h := s.Wrap(&target{}, nil)
	first := send(h, req{key: "my-key-123", auth: "Bearer ak_credential", body: `{"name":"acme-widgets"}`})
	if !strings.Contains(first.Body.String(), "sk_shown_once_1") {
		t.Fatalf("first = %s", first.Body)
	}
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v (%v); want one record", keys, err)
	}
	raw, err := rdb.Get(ctx, keys[0]).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"sk_shown_once", "acme-widgets", "my-key-123", "ak_credential", "/v1/things"} {
		if strings.Contains(keys[0]+raw, clear) {
			t.Fatalf("Redis holds %q in clear: %s = %s", clear, keys[0], raw)
		}
	}
	ttl, err := rdb.PTTL(ctx, keys[0]).Result()
	if err != nil || ttl > idempotency.DefaultTTL || ttl < idempotency.DefaultTTL-time.Minute {
		t.Fatalf("record TTL %s (%v); want about %s", ttl, err, idempotency.DefaultTTL)
	}
	// A record tampered with is not replayed.
	if err := rdb.Set(ctx, keys[0], strings.Replace(raw, `"a":"`, `"a":"AAAA`, 1), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if w := send(h, req{key: "my-key-123", auth: "Bearer ak_credential", body: `{"name":"acme-widgets"}`}); w.Code != 500 {
		t.Fatalf("a tampered record: %d %s; want 500", w.Code, w.Body)
	}
}

func TestAuthorizeBeforeReplay(t *testing.T) {
	t.Parallel()
	var asked atomic.Int64
	revoked := atomic.Bool{}
	s, _, _ := store(t, idempotency.Config{Authorize: func(w http.ResponseWriter, r *http.Request) bool {
		asked.Add(1)
		if revoked.Load() {
			httpjson.WriteError(w, r, httpjson.Errorf(http.StatusUnauthorized, "unauthorized", "invalid credentials"))
			return false
		}
		w.Header().Set("RateLimit-Remaining", "7")
		return true
	}})
	tg := &target{}
	h := s.Wrap(tg, nil)
	q := req{key: "k", auth: "Bearer ak_x", body: `{}`}
	first := send(h, q)
	if asked.Load() != 0 {
		t.Fatal("Authorize was asked on a first request (the handler checks it)")
	}
	again := send(h, q)
	sameAnswer(t, first, again)
	if got := again.Header().Get("RateLimit-Remaining"); got != "7" {
		t.Fatalf("RateLimit-Remaining %q: a kept header overwrote what Authorize set for this call", got)
	}
	revoked.Store(true)
	expectError(t, send(h, q), http.StatusUnauthorized, "unauthorized")
	if tg.runs.Load() != 1 || asked.Load() != 2 {
		t.Fatalf("%d runs, %d asks; want 1 and 2", tg.runs.Load(), asked.Load())
	}
}

// TestHandlerBoundedByHold: the handler's context ends before its hold on
// the key can, so a live request never loses its key to a retry.
func TestHandlerBoundedByHold(t *testing.T) {
	t.Parallel()
	const hold = 10 * time.Second
	var left time.Duration
	tg := &target{during: func(r *http.Request) {
		d, ok := r.Context().Deadline()
		if !ok {
			t.Error("the handler's context has no deadline")
		}
		left = time.Until(d)
	}}
	s, _, _ := store(t, idempotency.Config{PendingTTL: hold})
	send(s.Wrap(tg, nil), req{key: "k", body: `{}`})
	if left <= 0 || left > hold/2 {
		t.Fatalf("the handler had %s; want at most half the %s hold", left, hold)
	}
}

// TestLostHoldIsNotOverwritten: a request whose record was replaced (it
// ran past its hold and another took the key) leaves the other's record.
func TestLostHoldIsNotOverwritten(t *testing.T) {
	t.Parallel()
	s, rdb, prefix := store(t, idempotency.Config{})
	ctx := context.Background()
	tg := &target{during: func(*http.Request) {
		keys, err := rdb.Keys(ctx, prefix+"*").Result()
		if err != nil || len(keys) != 1 {
			t.Errorf("keys %v (%v)", keys, err)
			return
		}
		if err := rdb.Set(ctx, keys[0], "someone else's", time.Minute).Err(); err != nil {
			t.Error(err)
		}
	}}
	if w := send(s.Wrap(tg, nil), req{key: "k", body: `{}`}); w.Code != 201 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v (%v)", keys, err)
	}
	if v, err := rdb.Get(ctx, keys[0]).Result(); err != nil || v != "someone else's" {
		t.Fatalf("record %q (%v); want the other request's left alone", v, err)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	s, _, _ := store(t, idempotency.Config{})
	tg := &target{}
	h := s.Wrap(tg, nil)
	w := send(h, req{key: "big", body: strings.Repeat("x", httpjson.MaxBody+1)})
	expectError(t, w, http.StatusRequestEntityTooLarge, "payload_too_large")
	if tg.runs.Load() != 0 {
		t.Fatal("the handler ran on an oversized body")
	}
	full := strings.Repeat("y", httpjson.MaxBody)
	w = send(h, req{key: "full", body: full})
	var v struct{ Body string }
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != 201 || v.Body != full {
		t.Fatalf("a body of exactly the limit: %d, handler saw %d bytes (%v)", w.Code, len(v.Body), err)
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	for name, c := range map[string]idempotency.Config{
		"no redis":           {Prefix: prefix},
		"TTL under the hold": {Redis: rdb, PendingTTL: time.Hour, TTL: time.Minute},
		"negative hold":      {Redis: rdb, PendingTTL: -time.Second},
	} {
		if _, err := idempotency.New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
	if _, err := idempotency.New(idempotency.Config{Redis: rdb}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if e := idempotency.Unavailable(errors.New("x")); e.Status != 503 || e.Code != "unavailable" || e.RetryAfter != 1 {
		t.Fatalf("Unavailable() = %+v", e)
	}
}

// TestOnRedisCluster: one key per record, single-key commands and script,
// so records spread over a cluster's slots work as on one node.
func TestOnRedisCluster(t *testing.T) {
	t.Parallel()
	cc := testenv.RedisCluster(t)
	s, err := idempotency.New(idempotency.Config{Redis: cc, Prefix: "test:cluster:"})
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{}
	h := s.Wrap(tg, nil)
	// Enough keys to land on every master.
	for i := range 12 {
		q := req{key: "k-" + strconv.Itoa(i), auth: "Bearer a", body: `{}`}
		first := send(h, q)
		if first.Code != 201 {
			t.Fatalf("key %d: %d %s", i, first.Code, first.Body)
		}
		sameAnswer(t, first, send(h, q))
		expectError(t, send(h, req{key: q.key, auth: "Bearer a", body: `{"other":1}`}), 422, "idempotency_key_reused")
	}
	if n := tg.runs.Load(); n != 12 {
		t.Fatalf("the handler ran %d times; want 12", n)
	}
	var nodes atomic.Int64
	err = cc.ForEachMaster(context.Background(), func(ctx context.Context, node *redis.Client) error {
		// KEYS is fine on a test's private cluster.
		keys, err := node.Keys(ctx, "test:cluster:*").Result()
		if len(keys) > 0 {
			nodes.Add(1)
		}
		return err
	})
	if err != nil || nodes.Load() < 2 {
		t.Fatalf("records on %d masters (%v); want them spread", nodes.Load(), err)
	}
}

// TestOnMiniRedis: make run's embedded Redis supports what the store uses
// (SET NX GET, the finishing script).
func TestOnMiniRedis(t *testing.T) {
	t.Parallel()
	s, err := idempotency.New(idempotency.Config{Redis: testenv.MiniRedis(t), Prefix: "lic:"})
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{status: func(n int64) int { return []int{503, 201}[min(n, 2)-1] }}
	h := s.Wrap(tg, nil)
	q := req{key: "k", auth: "Bearer a", body: `{}`}
	if w := send(h, q); w.Code != 503 {
		t.Fatalf("first: %d", w.Code)
	}
	first := send(h, q)
	if first.Code != 201 || first.Header().Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("the retry after a 503: %d %s", first.Code, first.Body)
	}
	sameAnswer(t, first, send(h, q))
	expectError(t, send(h, req{key: "k", auth: "Bearer a", body: `{"x":1}`}), 422, "idempotency_key_reused")
	if n := tg.runs.Load(); n != 2 {
		t.Fatalf("the handler ran %d times; want 2", n)
	}
}
