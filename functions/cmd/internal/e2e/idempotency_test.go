package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/functions/openapi"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/idempotency"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// idemAPI is newAPI with the Idempotency-Key records under the test's own
// Redis prefix, as the production configuration gives them.
func idemAPI(t *testing.T) *api {
	t.Helper()
	b, _ := testenv.Backend(t)
	a, _ := serveIdem(t, b)
	return a
}

// serveIdem serves every function of a backend with the Idempotency-Key
// records under the backend's key prefix, and returns the functions too.
func serveIdem(t *testing.T, b *backend.Backend) (*api, []route.Function) {
	t.Helper()
	return serveIdemWith(t, b, config.RateLimit{})
}

// serveIdemWith is serveIdem with rate limits (zero: none).
func serveIdemWith(t *testing.T, b *backend.Backend, limits config.RateLimit) (*api, []route.Function) {
	t.Helper()
	authn, err := authnOn(b, limits)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fns, err := allHTTP(t, ctx, compose.Deps{Backend: b, Authn: authn, Limits: limits, Root: testRoot(t), Issuer: testIssuer,
		Logger: slog.New(slog.DiscardHandler)},
		func(rb *backend.Backend) (*auth.Authenticator, error) {
			return authnOn(rb, limits)
		})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: logging.New(logs, slog.LevelInfo)}, fns...))
	t.Cleanup(srv.Close)
	return &api{t: t, srv: srv, prefix: b.KeyPrefix, b: b, log: logs}, fns
}

// keyed sends a JSON request with an Idempotency-Key.
func (a *api) keyed(method, path, token, key string, body any) reply {
	a.t.Helper()
	req := keyedRequest(a.t, a.srv.URL, method, path, token, key, body)
	return a.do(req)
}

func keyedRequest(t *testing.T, base, method, path, token, key string, body any) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		enc, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(enc)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set(idempotency.Header, key)
	return req
}

// replayed checks that again repeats first exactly and says it is a replay.
func (a *api) replayed(first, again reply) {
	a.t.Helper()
	if again.status != first.status || again.raw != first.raw {
		a.t.Fatalf("the retry got %d %s; the first answer was %d %s", again.status, again.raw, first.status, first.raw)
	}
	if first.header.Get(idempotency.ReplayedHeader) != "" || again.header.Get(idempotency.ReplayedHeader) != "true" {
		a.t.Fatalf("%s: first %q, retry %q", idempotency.ReplayedHeader,
			first.header.Get(idempotency.ReplayedHeader), again.header.Get(idempotency.ReplayedHeader))
	}
	if l := first.header.Get("Location"); l != again.header.Get("Location") {
		a.t.Fatalf("Location: first %q, retry %q", l, again.header.Get("Location"))
	}
}

// count is how many items a list answers (one page of up to 200).
func (a *api) count(path, field string) int {
	a.t.Helper()
	r := a.expect(a.admin("GET", path+"?limit=200", nil), 200, "")
	all, _ := r.body[field].([]any)
	return len(all)
}

// audited is how many audit entries of a tenant have the action.
func (a *api) audited(tenantID, action string) int {
	a.t.Helper()
	r := a.expect(a.admin("GET", "/v1/tenants/"+tenantID+"/audit?limit=200", nil), 200, "")
	all, _ := r.body["entries"].([]any)
	n := 0
	for _, e := range all {
		if m, _ := e.(map[string]any); m["action"] == action {
			n++
		}
	}
	return n
}

// TestIdempotentAdminPOSTs: every admin POST sent twice with one key runs
// once: the retry gets the first answer, and one row and one audit entry
// exist.
func TestIdempotentAdminPOSTs(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)

	t.Run("tenants", func(t *testing.T) {
		b := *a
		b.t = t
		body := map[string]any{"name": "Idem", "slug": "idem"}
		first := b.expect(b.keyed("POST", "/v1/tenants", adminToken, "tenant-1", body), 201, "")
		b.replayed(first, b.keyed("POST", "/v1/tenants", adminToken, "tenant-1", body))
		n := 0
		for _, x := range b.expect(b.admin("GET", "/v1/tenants?limit=200", nil), 200, "").body["tenants"].([]any) {
			if x.(map[string]any)["slug"] == "idem" {
				n++
			}
		}
		if n != 1 || b.audited(first.str("id"), "tenant.create") != 1 {
			t.Fatalf("%d tenants with the slug, %d audit entries; want 1 and 1", n, b.audited(first.str("id"), "tenant.create"))
		}
	})

	t.Run("licenses", func(t *testing.T) {
		b := *a
		b.t = t
		tenant := b.tenant("lic")
		path := "/v1/tenants/" + tenant + "/licenses"
		body := map[string]any{"product": "coditect", "seats": 3}
		first := b.expect(b.keyed("POST", path, adminToken, "license-1", body), 201, "")
		if first.str("key") == "" {
			t.Fatalf("create = %s", first.raw)
		}
		// The license key, shown only once, is in the replay too.
		b.replayed(first, b.keyed("POST", path, adminToken, "license-1", body))
		if n, e := b.count(path, "licenses"), b.audited(tenant, "license.create"); n != 1 || e != 1 {
			t.Fatalf("%d licenses, %d audit entries; want 1 and 1", n, e)
		}
	})

	t.Run("api-keys", func(t *testing.T) {
		b := *a
		b.t = t
		tenant := b.tenant("keys")
		path := "/v1/tenants/" + tenant + "/api-keys"
		body := map[string]any{"name": "ci", "role": "member"}
		first := b.expect(b.keyed("POST", path, adminToken, "apikey-1", body), 201, "")
		b.replayed(first, b.keyed("POST", path, adminToken, "apikey-1", body))
		if n, e := b.count(path, "api_keys"), b.audited(tenant, "api_key.create"); n != 1 || e != 1 {
			t.Fatalf("%d API keys, %d audit entries; want 1 and 1", n, e)
		}
		// The replayed secret is a working key: the one that was made.
		b.expect(b.call("GET", "/v1/tenants/"+tenant+"/licenses", first.str("key"), nil), 200, "")
	})

	t.Run("repositories", func(t *testing.T) {
		b := *a
		b.t = t
		tenant := b.tenant("repos")
		path := "/v1/tenants/" + tenant + "/repositories"
		body := map[string]any{"name": "widget", "remote_url": "https://github.com/acme/widget.git"}
		first := b.expect(b.keyed("POST", path, adminToken, "repo-1", body), 201, "")
		// Run again, it would be 409 remote_taken.
		b.replayed(first, b.keyed("POST", path, adminToken, "repo-1", body))
		if n, e := b.count(path, "repositories"), b.audited(tenant, "repository.create"); n != 1 || e != 1 {
			t.Fatalf("%d repositories, %d audit entries; want 1 and 1", n, e)
		}
	})

	t.Run("certificate", func(t *testing.T) {
		b := *a
		b.t = t
		tenant := b.tenant("cert")
		id, _ := b.license(tenant, map[string]any{"seats": 2})
		path := "/v1/tenants/" + tenant + "/licenses/" + id + "/certificate"
		first := b.expect(b.keyed("POST", path, adminToken, "cert-1", nil), 200, "")
		// The license changes; the retry still gets the first certificate,
		// so the handler did not run again.
		b.expect(b.admin("PATCH", "/v1/tenants/"+tenant+"/licenses/"+id, map[string]any{"seats": 5}), 200, "")
		b.replayed(first, b.keyed("POST", path, adminToken, "cert-1", nil))
		if fresh := b.expect(b.keyed("POST", path, adminToken, "cert-2", nil), 200, ""); fresh.str("certificate") == first.str("certificate") {
			t.Fatal("a new key got the old certificate: the test cannot tell a replay from a run")
		}
	})
}

// TestIdempotentAcquire: one seat, one ledger event, and the first answer
// (not a resume) for the retry.
func TestIdempotentAcquire(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)
	tenant := a.tenant("acme")
	id, key := a.license(tenant, map[string]any{"seats": 2})
	_, otherKey := a.license(tenant, map[string]any{"seats": 2})
	body := map[string]any{"license_key": key, "fingerprint": "ws-1"}
	first := a.expect(a.keyed("POST", "/v1/acquire", "", "acq-1", body), 200, "")
	if first.body["resumed"] != false {
		t.Fatalf("first acquire = %s", first.raw)
	}
	// Run again it would resume (resumed: true, a later expiry).
	a.replayed(first, a.keyed("POST", "/v1/acquire", "", "acq-1", body))
	if used := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+id, nil), 200, "").num("seats_used"); used != 1 {
		t.Fatalf("seats_used %d; want 1", used)
	}
	events, err := a.b.Redis.XLen(context.Background(), a.prefix+"{"+id+"}:e").Result()
	if err != nil || events != 1 {
		t.Fatalf("the license's ledger holds %d events (%v); want the one acquire", events, err)
	}
	// Same key, another workstation: a reuse, and no seat taken.
	a.expect(a.keyed("POST", "/v1/acquire", "", "acq-1", map[string]any{"license_key": key, "fingerprint": "ws-2"}),
		422, "idempotency_key_reused")
	if used := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+id, nil), 200, "").num("seats_used"); used != 1 {
		t.Fatalf("seats_used %d after the reuse; want 1", used)
	}
	// Another license's holder picking the same key is another caller.
	other := a.expect(a.keyed("POST", "/v1/acquire", "", "acq-1", map[string]any{"license_key": otherKey, "fingerprint": "ws-1"}), 200, "")
	if other.header.Get(idempotency.ReplayedHeader) != "" || other.str("session_id") == first.str("session_id") {
		t.Fatalf("another license on the same key: %s", other.raw)
	}
}

// TestIdempotencyPerCaller: one key and body from two credentials are two
// requests.
func TestIdempotencyPerCaller(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)
	tenant := a.tenant("acme")
	admin := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys", map[string]any{"name": "ops", "role": "admin"}), 201, "").str("key")
	// API keys: a POST both the platform and a tenant admin may make.
	path := "/v1/tenants/" + tenant + "/api-keys"
	body := map[string]any{"name": "ci", "role": "member"}
	mine := a.expect(a.keyed("POST", path, adminToken, "same", body), 201, "")
	theirs := a.expect(a.keyed("POST", path, admin, "same", body), 201, "")
	if theirs.header.Get(idempotency.ReplayedHeader) != "" || theirs.str("id") == mine.str("id") {
		t.Fatalf("the second credential got the first's answer: %s", theirs.raw)
	}
	// Three: "ops", then one per credential.
	if n, e := a.count(path, "api_keys"), a.audited(tenant, "api_key.create"); n != 3 || e != 3 {
		t.Fatalf("%d API keys, %d audit entries; want 3 and 3", n, e)
	}
	// Each still replays its own.
	a.replayed(mine, a.keyed("POST", path, adminToken, "same", body))
	a.replayed(theirs, a.keyed("POST", path, admin, "same", body))
}

// rawAnswer is an answer read off a goroutine (which must not t.Fatal).
type rawAnswer struct {
	status int
	code   string
	raw    string
	err    error
}

func sendRaw(req *http.Request) rawAnswer {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawAnswer{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	var v struct{ Error struct{ Code string } }
	json.Unmarshal(raw, &v) //nolint:errcheck // checked by the caller through code/raw
	return rawAnswer{status: resp.StatusCode, code: v.Error.Code, raw: string(raw), err: err}
}

// race sends n copies of a request at once.
func race(t *testing.T, n int, req func() *http.Request) []rawAnswer {
	t.Helper()
	out := make([]rawAnswer, n)
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = req()
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			<-start
			out[i] = sendRaw(reqs[i])
		})
	}
	close(start)
	wg.Wait()
	return out
}

// oneAnswer checks racing duplicates got one answer (or were told to wait)
// and returns it.
func oneAnswer(t *testing.T, answers []rawAnswer, status int) string {
	t.Helper()
	got := ""
	for _, r := range answers {
		switch {
		case r.err != nil:
			t.Fatal(r.err)
		case r.status == http.StatusConflict && r.code == "idempotency_key_in_progress":
		case r.status == status && (got == "" || got == r.raw):
			got = r.raw
		default:
			t.Fatalf("a duplicate got %d %s (first answer %s)", r.status, r.raw, got)
		}
	}
	if got == "" {
		t.Fatal("no duplicate got the answer")
	}
	return got
}

// TestIdempotencyConcurrentDuplicates: 20 copies at once run once.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)
	tenant := a.tenant("acme")
	path := "/v1/tenants/" + tenant + "/licenses"
	body := map[string]any{"product": "coditect", "seats": 4}
	oneAnswer(t, race(t, 20, func() *http.Request {
		return keyedRequest(t, a.srv.URL, "POST", path, adminToken, "race", body)
	}), 201)
	if n, e := a.count(path, "licenses"), a.audited(tenant, "license.create"); n != 1 || e != 1 {
		t.Fatalf("%d licenses, %d audit entries after 20 racing duplicates; want 1 and 1", n, e)
	}

	id, key := a.license(tenant, map[string]any{"seats": 4})
	acquire := map[string]any{"license_key": key, "fingerprint": "ws-1"}
	answer := oneAnswer(t, race(t, 20, func() *http.Request {
		return keyedRequest(t, a.srv.URL, "POST", "/v1/acquire", "", "race", acquire)
	}), 200)
	if !strings.Contains(answer, `"resumed":false`) {
		t.Fatalf("the answer is a resume: the seat was taken more than once: %s", answer)
	}
	events, err := a.b.Redis.XLen(context.Background(), a.prefix+"{"+id+"}:e").Result()
	if err != nil || events != 1 {
		t.Fatalf("the license's ledger holds %d events (%v); want one acquire", events, err)
	}
}

var pathParam = regexp.MustCompile(`\{[a-z_]+\}`)

// TestEveryPOSTTakesAKey walks every route the composition root serves: each POST
// but heartbeat's and release's (borrow and return do) checks the key (a bad one is refused
// before anything else), and the OpenAPI document says so on exactly
// those operations.
func TestEveryPOSTTakesAKey(t *testing.T) {
	t.Parallel()
	b, _ := testenv.Backend(t)
	a, fns := serveIdem(t, b)
	var spec struct {
		Paths map[string]map[string]json.RawMessage
	}
	if err := json.Unmarshal(openapi.Document(), &spec); err != nil {
		t.Fatal(err)
	}
	type operation struct {
		Parameters []struct {
			Ref string `json:"$ref"`
		}
		Responses map[string]any
	}
	const param = "#/components/parameters/IdempotencyKey"
	keyed := map[string]bool{}
	for _, f := range fns {
		for _, rt := range f.Routes {
			if _, ok := rt.Methods[http.MethodPost]; !ok {
				continue
			}
			path := pathParam.ReplaceAllString(rt.Pattern, "00000000-0000-4000-8000-000000000000")
			r := a.do(keyedRequest(t, a.srv.URL, "POST", path, adminToken, "not a valid key", map[string]any{}))
			want := compose.IdempotentPOST(f.Name, rt.Pattern)
			if got := r.status == 400 && r.code() == "invalid_idempotency_key"; got != want {
				t.Errorf("POST %s (%s): %d %s; want the key checked: %v", rt.Pattern, f.Name, r.status, r.raw, want)
			}
			var op operation
			if err := json.Unmarshal(spec.Paths[rt.Pattern]["post"], &op); err != nil || op.Responses == nil {
				t.Errorf("POST %s is not in the spec (%v)", rt.Pattern, err)
				continue
			}
			documented := false
			for _, p := range op.Parameters {
				documented = documented || p.Ref == param
			}
			_, has409 := op.Responses["409"]
			_, has422 := op.Responses["422"]
			if documented != want || (want && (!has409 || !has422)) {
				t.Errorf("POST %s: the spec documents the key %v (409 %v, 422 %v); want %v", rt.Pattern, documented, has409, has422, want)
			}
			if want {
				keyed[rt.Pattern] = true
			}
		}
	}
	for _, p := range []string{"/v1/acquire", "/v1/tenants", "/v1/tenants/{tenant_id}/licenses",
		"/v1/tenants/{tenant_id}/licenses/{license_id}/certificate", "/v1/tenants/{tenant_id}/api-keys",
		"/v1/tenants/{tenant_id}/repositories", "/v1/tenants/{tenant_id}/licenses/{license_id}/sessions:revoke-all",
		"/v1/tenants/{tenant_id}/licenses/{license_id}/rotate-key", "/v1/borrow", "/v1/return"} {
		if !keyed[p] {
			t.Errorf("POST %s does not take an Idempotency-Key", p)
		}
	}
}

// idemCommands counts the Redis commands that touch Idempotency-Key records.
type idemCommands struct {
	marker string
	n      atomic.Int64
}

func (h *idemCommands) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *idemCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if strings.Contains(fmt.Sprint(cmd.Args()...), h.marker) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *idemCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestWithoutKeyUnchanged: without the header a retry runs again, as it
// always did, and no record is read or written.
func TestWithoutKeyUnchanged(t *testing.T) {
	t.Parallel()
	b, _ := testenv.Backend(t)
	hook := &idemCommands{marker: b.KeyPrefix + "idem:"}
	b.Redis.AddHook(hook)
	a, _ := serveIdem(t, b)
	body := map[string]any{"name": "Acme", "slug": "acme"}
	first := a.expect(a.admin("POST", "/v1/tenants", body), 201, "")
	a.expect(a.admin("POST", "/v1/tenants", body), 409, "slug_taken")
	tenant := first.str("id")
	_, key := a.license(tenant, nil)
	a.license(tenant, nil)
	if n := a.count("/v1/tenants/"+tenant+"/licenses", "licenses"); n != 2 {
		t.Fatalf("two creates without a key made %d licenses", n)
	}
	a.expect(a.acquire(key, "ws"), 200, "")
	if again := a.expect(a.acquire(key, "ws"), 200, ""); again.body["resumed"] != true || again.header.Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("a second acquire without a key: %s", again.raw)
	}
	if n := hook.n.Load(); n != 0 {
		t.Fatalf("requests without %s sent %d Redis commands on its records", idempotency.Header, n)
	}
	// The hook does see them when the header is there.
	a.expect(a.keyed("POST", "/v1/acquire", "", "k", map[string]any{"license_key": key, "fingerprint": "ws"}), 200, "")
	if hook.n.Load() == 0 {
		t.Fatal("the hook saw no record command: this test proves nothing")
	}
}

// TestIdempotencyRedisDown: with the header and Redis down, nothing runs
// (it could run twice); without the header, creating works as before.
func TestIdempotencyRedisDown(t *testing.T) {
	t.Parallel()
	healthy := idemAPI(t)
	dead := redis.NewClient(&redis.Options{Addr: deadAddr(t), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { dead.Close() })
	b, err := backend.New(dead, healthy.b.DB, healthy.prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	a, _ := serveIdem(t, b)
	r := a.expect(a.keyed("POST", "/v1/tenants", adminToken, "k", map[string]any{"name": "Acme", "slug": "acme"}), 503, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After: %s", r.raw)
	}
	if n := healthy.count("/v1/tenants", "tenants"); n != 0 {
		t.Fatalf("%d tenants: the request ran while its key could not be held", n)
	}
	a.expect(a.admin("POST", "/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"}), 201, "")
}

// TestIdempotencyServerErrorNotKept: a 5xx answer is not kept, so the
// retry runs; its answer is kept.
func TestIdempotencyServerErrorNotKept(t *testing.T) {
	t.Parallel()
	healthy := idemAPI(t)
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@"+deadAddr(t)+"/postgres?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b, err := backend.New(healthy.b.Redis, &database.DB{Pool: pool}, healthy.prefix, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Sightings.Close)
	down, _ := serveIdem(t, b)
	body := map[string]any{"name": "Acme", "slug": "acme"}
	down.expect(down.keyed("POST", "/v1/tenants", adminToken, "k", body), 503, "unavailable")
	// The same records, PostgreSQL back: the retry runs.
	first := healthy.expect(healthy.keyed("POST", "/v1/tenants", adminToken, "k", body), 201, "")
	if first.header.Get(idempotency.ReplayedHeader) != "" {
		t.Fatalf("the 503 was replayed: %s", first.raw)
	}
	healthy.replayed(first, healthy.keyed("POST", "/v1/tenants", adminToken, "k", body))
	if n := healthy.count("/v1/tenants", "tenants"); n != 1 {
		t.Fatalf("%d tenants; want 1", n)
	}
}

// TestIdempotencyOtherErrors: a malformed key is refused before anything
// runs; a reused key with another body is 422 and changes nothing.
func TestIdempotencyOtherErrors(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)
	body := map[string]any{"name": "Acme", "slug": "acme"}
	for _, k := range []string{strings.Repeat("k", 256), "has space", "naïve", "tab\there"} {
		req := keyedRequest(t, a.srv.URL, "POST", "/v1/tenants", adminToken, "x", body)
		req.Header.Set(idempotency.Header, k)
		a.expect(a.do(req), 400, "invalid_idempotency_key")
	}
	req := keyedRequest(t, a.srv.URL, "POST", "/v1/tenants", adminToken, "x", body)
	req.Header.Add(idempotency.Header, "y")
	a.expect(a.do(req), 400, "invalid_idempotency_key")
	if n := a.count("/v1/tenants", "tenants"); n != 0 {
		t.Fatalf("%d tenants after malformed keys", n)
	}
	a.expect(a.keyed("POST", "/v1/tenants", adminToken, "k", body), 201, "")
	a.expect(a.keyed("POST", "/v1/tenants", adminToken, "k", map[string]any{"name": "Acme 2", "slug": "acme-2"}), 422, "idempotency_key_reused")
	if n := a.count("/v1/tenants", "tenants"); n != 1 {
		t.Fatalf("%d tenants after a reused key; want 1", n)
	}
}

// TestReplayNeedsALiveCredential: a revoked API key cannot read back the
// answer it was given.
func TestReplayNeedsALiveCredential(t *testing.T) {
	t.Parallel()
	a := idemAPI(t)
	tenant := a.tenant("acme")
	created := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys", map[string]any{"name": "ops", "role": "admin"}), 201, "")
	key := created.str("key")
	// API keys: a POST a tenant admin's key may make.
	path := "/v1/tenants/" + tenant + "/api-keys"
	body := map[string]any{"name": "ci", "role": "member"}
	first := a.expect(a.keyed("POST", path, key, "k", body), 201, "")
	a.replayed(first, a.keyed("POST", path, key, "k", body))
	a.expect(a.admin("DELETE", "/v1/tenants/"+tenant+"/api-keys/"+created.str("id"), nil), 204, "")
	r := a.expect(a.keyed("POST", path, key, "k", body), 401, "unauthorized")
	if strings.Contains(r.raw, first.str("key")) || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("a revoked key's replay: %s (WWW-Authenticate %q)", r.raw, r.header.Get("WWW-Authenticate"))
	}
	// "ops" (revoked) and the one it made.
	if n := a.count(path, "api_keys"); n != 2 {
		t.Fatalf("%d API keys; want 2", n)
	}
}

// TestReplaysAreRateLimited: a replay, which never reaches the function's
// own authentication, still counts against the caller's rate limit.
func TestReplaysAreRateLimited(t *testing.T) {
	t.Parallel()
	b, _ := testenv.Backend(t)
	a, _ := serveIdemWith(t, b, config.RateLimit{PerCredential: 1, PerCredentialBurst: 2})
	body := map[string]any{"name": "Acme", "slug": "acme"}
	first := a.expect(a.keyed("POST", "/v1/tenants", adminToken, "k", body), 201, "")
	limited := 0
	// The burst of 2 holds the first call and one replay; a refill takes a
	// second, so five quick replays meet the limit even on a slow machine.
	for range 5 {
		r := a.keyed("POST", "/v1/tenants", adminToken, "k", body)
		switch {
		case r.status == http.StatusTooManyRequests && r.code() == "rate_limited" && r.header.Get("Retry-After") != "":
			limited++
		case r.status == http.StatusCreated:
			a.replayed(first, r)
		default:
			t.Fatalf("a replay got %d %s", r.status, r.raw)
		}
	}
	if limited == 0 {
		t.Fatal("no replay was rate limited")
	}
	// Counted through an unlimited server on the same backend: the
	// limited one would refuse the admin this call too.
	plain, _ := serveIdem(t, b)
	if n := plain.count("/v1/tenants", "tenants"); n != 1 {
		t.Fatalf("%d tenants; want 1", n)
	}
}
