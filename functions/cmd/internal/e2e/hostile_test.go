package e2e_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/database"
)

// Hostile strings put in every string field: SQL, Lua and format
// metacharacters, NUL and invalid UTF-8.
const (
	hostileSQL = `'; DROP TABLE tenants;--`
	hostileLua = `"]])redis.call('FLUSHALL')--`
)

// hostileFixture is one API with one of each resource, so hostile
// requests can aim at real ids and a live session.
type hostileFixture struct {
	a *api
	// ids substitutes {tenant}, {license}, {key}, {session}, {repo},
	// {apikey} and {ws} in paths and bodies.
	ids map[string]string
}

func newHostileFixture(t *testing.T) *hostileFixture {
	t.Helper()
	return newHostileFixtureOn(t, newAPI(t))
}

// newHostileFixtureOn is newHostileFixture on a given API (one that also
// takes ID tokens, say).
func newHostileFixtureOn(t *testing.T, a *api) *hostileFixture {
	t.Helper()
	tenant := a.tenant("acme")
	license, key := a.license(tenant, map[string]any{"seats": 2, "lease_ttl_seconds": 3600})
	session := a.expect(a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": "fp-1",
		"hostname": "host-1", "user": "ada"}), 200, "").str("session_id")
	repo := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/repositories",
		map[string]any{"name": "widget", "remote_url": "git@github.com:acme/widget.git"}), 201, "").str("id")
	apiKey := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys", map[string]any{"name": "ci", "role": "admin"}), 201, "").str("id")
	// The acquire's workstation is recorded in the background: wait for it,
	// so that no write lands in the middle of the cases.
	var ws string
	for deadline := time.Now().Add(10 * time.Second); ws == "" && time.Now().Before(deadline); {
		list := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/workstations", nil), 200, "")
		if all, _ := list.body["workstations"].([]any); len(all) == 1 {
			ws, _ = all[0].(map[string]any)["id"].(string)
		} else {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if ws == "" {
		t.Fatal("the acquire's workstation was not recorded within 10s")
	}
	return &hostileFixture{a: a, ids: map[string]string{"{tenant}": tenant, "{license}": license, "{key}": key,
		"{session}": session, "{repo}": repo, "{apikey}": apiKey, "{ws}": ws}}
}

func (f *hostileFixture) fill(s string) string {
	for k, v := range f.ids {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

// hostileState is what a request could change: every table of the test's
// database (row count and a digest of every row, so updates show too) and
// every Redis key under the test's prefix (its type and a digest of its
// DUMP), plus the license's live seat count.
type hostileState struct {
	tables map[string]string
	keys   map[string]string
	seats  int
}

func (f *hostileFixture) snapshot(t *testing.T) hostileState {
	t.Helper()
	ctx := context.Background()
	s := hostileState{tables: map[string]string{}, keys: map[string]string{}}
	pool := f.a.b.DB.Pool
	// app_scope is not data: every transaction records its scope there
	// (schema/005), a hostile request's as much as any.
	rows, err := pool.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'app_scope'
		ORDER BY tablename`)
	if err != nil {
		t.Fatalf("listing tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if rows.Err() != nil || len(tables) < 5 {
		t.Fatalf("listing tables: %v %v", rows.Err(), tables)
	}
	for _, name := range tables {
		var digest string
		q := fmt.Sprintf(`SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM %q x`, name)
		if err := pool.QueryRow(ctx, q).Scan(&digest); err != nil {
			t.Fatalf("reading table %s: %v", name, err)
		}
		s.tables[name] = digest
	}
	rdb := f.a.b.Redis
	iter := rdb.Scan(ctx, 0, f.a.prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		k := iter.Val()
		if keptAnswer(f.a.prefix, k) {
			continue
		}
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatalf("TYPE %s: %v", k, err)
		}
		dump, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		sum := sha256.Sum256([]byte(dump))
		s.keys[k] = typ + ":" + hex.EncodeToString(sum[:8])
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	if len(s.keys) == 0 {
		t.Fatal("no Redis keys under the test's prefix: the snapshot would prove nothing")
	}
	used, err := f.a.b.Seats.Count(ctx, []string{f.ids["{license}"]})
	if err != nil {
		t.Fatalf("counting seats: %v", err)
	}
	s.seats = used[f.ids["{license}"]]
	return s
}

// keptAnswer reports whether a Redis key holds an answer kept for a few
// seconds rather than state: an API key lookup's (apikey:{hash}) or the
// mark of a license id PostgreSQL does not know ({id}:n). A hostile
// request may leave one; nothing it says is state a request changed.
func keptAnswer(prefix, k string) bool {
	return strings.HasPrefix(k, prefix+"apikey:{") || (strings.HasPrefix(k, prefix+"{") && strings.HasSuffix(k, "}:n"))
}

// diff says what changed between two snapshots, "" when nothing did.
func (s hostileState) diff(after hostileState) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(s.tables)) {
		if s.tables[k] != after.tables[k] {
			out = append(out, fmt.Sprintf("table %s: %s -> %s", k, s.tables[k], after.tables[k]))
		}
	}
	for k := range after.tables {
		if _, ok := s.tables[k]; !ok {
			out = append(out, "new table "+k)
		}
	}
	for k, v := range s.keys {
		if after.keys[k] != v {
			out = append(out, fmt.Sprintf("redis key %s: %s -> %q", k, v, after.keys[k]))
		}
	}
	for k := range after.keys {
		if _, ok := s.keys[k]; !ok {
			out = append(out, "new redis key "+k)
		}
	}
	if s.seats != after.seats {
		out = append(out, fmt.Sprintf("seats used %d -> %d", s.seats, after.seats))
	}
	return strings.Join(out, "; ")
}

// hostile is one request the API must refuse with a 4xx and its JSON error
// envelope, changing nothing.
type hostile struct {
	name, method, path string
	// token is "admin" for the bootstrap token, "" for none, else sent as is.
	token string
	// body is sent as is (after filling in ids), with Content-Type ct
	// (application/json when empty and there is a body; "-" for none).
	body, ct string
	header   http.Header
	status   int
	code     string
}

// hostileAnswer is a raw response.
type hostileAnswer struct {
	status int
	header http.Header
	raw    []byte
}

func (f *hostileFixture) send(t *testing.T, h hostile) hostileAnswer {
	t.Helper()
	var body io.Reader
	if h.body != "" {
		body = strings.NewReader(f.fill(h.body))
	}
	req, err := http.NewRequest(h.method, f.a.srv.URL+f.fill(h.path), body)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case h.ct == "-":
	case h.ct != "":
		req.Header.Set("Content-Type", h.ct)
	case h.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	switch h.token {
	case "":
	case "admin":
		req.Header.Set("Authorization", "Bearer "+adminToken)
	default:
		req.Header.Set("Authorization", h.token)
	}
	for k, v := range h.header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", h.method, h.path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the hostileAnswer: %v", h.method, h.path, err)
	}
	return hostileAnswer{status: resp.StatusCode, header: resp.Header, raw: raw}
}

// refused checks an hostileAnswer is the status and code wanted, in exactly the
// JSON error envelope {"error":{"code","message"}}.
func hostileRefused(t *testing.T, h hostile, got hostileAnswer) {
	t.Helper()
	var env map[string]json.RawMessage
	var e struct{ Code, Message string }
	var fields map[string]any
	if got.header.Get("Content-Type") != "application/json" || json.Unmarshal(got.raw, &env) != nil ||
		json.Unmarshal(env["error"], &e) != nil || json.Unmarshal(env["error"], &fields) != nil {
		t.Fatalf("%s %s: %d %q without the JSON error envelope: %.300s", h.method, h.path, got.status,
			got.header.Get("Content-Type"), got.raw)
	}
	if got.status != h.status || e.Code != h.code || e.Message == "" || len(fields) != 2 {
		t.Fatalf("%s %s: got %d %s, want %d %q", h.method, h.path, got.status, got.raw, h.status, h.code)
	}
}

// hostileBodies is one request of each kind of broken body, for a route.
func hostileBodies(prefix, method, path, token, valid string) []hostile {
	return []hostile{
		{prefix + "broken JSON", method, path, token, strings.TrimSuffix(valid, "}"), "", nil, 400, "invalid_request"},
		{prefix + "10000-deep nesting", method, path, token, strings.Repeat("[", 10001) + strings.Repeat("]", 10001), "", nil, 400, "invalid_request"},
		{prefix + "NUL byte in the JSON", method, path, token, strings.Replace(valid, `"`, "\"\x00", 2), "", nil, 400, "invalid_request"},
		{prefix + "invalid UTF-8", method, path, token, strings.Replace(valid, `"`, "\"\xc3\x28", 2), "", nil, 400, "invalid_request"},
		{prefix + "a JSON array", method, path, token, "[" + valid + "]", "", nil, 400, "invalid_request"},
		{prefix + "two objects", method, path, token, valid + valid, "", nil, 400, "invalid_request"},
		{prefix + "unknown field", method, path, token, strings.Replace(valid, "{", `{"id":"`+hostileSQL+`",`, 1), "", nil, 400, "invalid_request"},
		{prefix + "text/plain", method, path, token, valid, "text/plain", nil, 415, "unsupported_media_type"},
		{prefix + "no content type", method, path, token, valid, "-", nil, 415, "unsupported_media_type"},
		{prefix + "a 70 KB body", method, path, token, strings.Replace(valid, "{", `{"x":"`+strings.Repeat("a", 70<<10)+`",`, 1), "", nil, 413, "payload_too_large"},
	}
}

// hostileCases are the requests every test of this file sends; each must
// be refused.
func hostileCases() []hostile {
	acquire := func(name, body string, status int, code string) hostile {
		return hostile{"acquire: " + name, "POST", "/v1/acquire", "", body, "", nil, status, code}
	}
	heartbeat := func(name, body string, status int, code string) hostile {
		return hostile{"heartbeat: " + name, "POST", "/v1/heartbeat", "", body, "", nil, status, code}
	}
	admin := func(name, method, path, body string, status int, code string) hostile {
		return hostile{name, method, path, "admin", body, "", nil, status, code}
	}
	ten := "/v1/tenants/{tenant}"
	lic := ten + "/licenses/{license}"
	validLicense := `{"product":"p","seats":1}`
	cases := []hostile{
		acquire("100k '['", strings.Repeat("[", 100000), 413, "payload_too_large"),
		acquire("60k '['", strings.Repeat("[", 60000), 400, "invalid_request"),
		acquire("10 MB body", `{"license_key":"{key}","fingerprint":"`+strings.Repeat("f", 10<<20)+`"}`, 413, "payload_too_large"),
		acquire("1e400 key", `{"license_key":1e400,"fingerprint":"f"}`, 400, "invalid_request"),
		acquire("2^64 fingerprint", `{"license_key":"{key}","fingerprint":18446744073709551616}`, 400, "invalid_request"),
		acquire("key as array", `{"license_key":["{key}"],"fingerprint":"f"}`, 400, "invalid_request"),
		acquire("fingerprint as object", `{"license_key":"{key}","fingerprint":{"a":1}}`, 400, "invalid_request"),
		acquire("escaped NUL in fingerprint", `{"license_key":"{key}","fingerprint":"a\u0000b"}`, 400, "invalid_request"),
		acquire("raw NUL in fingerprint", "{\"license_key\":\"{key}\",\"fingerprint\":\"a\x00b\"}", 400, "invalid_request"),
		acquire("invalid UTF-8 in hostname", "{\"license_key\":\"{key}\",\"fingerprint\":\"f\",\"hostname\":\"\xff\"}", 400, "invalid_request"),
		acquire("line separator in user", `{"license_key":"{key}","fingerprint":"f","user":"a\u2028b"}`, 400, "invalid_request"),
		acquire("newline in os", `{"license_key":"{key}","fingerprint":"f","os":"linux\nFAKE LOG"}`, 400, "invalid_request"),
		acquire("fingerprint of 257 bytes", `{"license_key":"{key}","fingerprint":"`+strings.Repeat("f", 257)+`"}`, 400, "invalid_request"),
		acquire("duplicate fingerprint", `{"license_key":"{key}","fingerprint":"a","fingerprint":"b"}`, 400, "invalid_request"),
		acquire("duplicate key, other case", `{"license_key":"{key}","fingerprint":"a","LICENSE_KEY":"x"}`, 400, "invalid_request"),
		acquire("unknown field seats", `{"license_key":"{key}","fingerprint":"a","seats":100}`, 400, "invalid_request"),
		acquire("NUL in repository path", `{"license_key":"{key}","fingerprint":"f","repository":"https://github.com/a/b%00c"}`, 400, "invalid_request"),
		acquire("newline in repository path", `{"license_key":"{key}","fingerprint":"f","repository":"https://github.com/a/b%0aINFO"}`, 400, "invalid_request"),
		acquire("file repository", `{"license_key":"{key}","fingerprint":"f","repository":"file:///etc/passwd"}`, 400, "invalid_request"),
		acquire("SQL repository", `{"license_key":"{key}","fingerprint":"f","repository":"`+hostileSQL+`"}`, 400, "invalid_request"),
		acquire("SQL license key", `{"license_key":"`+hostileSQL+`","fingerprint":"f"}`, 404, "license_not_found"),
		acquire("Lua license key", `{"license_key":"`+strings.ReplaceAll(hostileLua, `"`, `\"`)+`","fingerprint":"f"}`, 404, "license_not_found"),
		acquire("format license key", `{"license_key":"%s%n%x","fingerprint":"f"}`, 404, "license_not_found"),
		acquire("traversal license key", `{"license_key":"lk_../../../etc/passwd","fingerprint":"f"}`, 404, "license_not_found"),
		acquire("key of no license", `{"license_key":"lk_00000000000040008000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","fingerprint":"f"}`, 404, "license_not_found"),
		acquire("key with a wrong secret", `{"license_key":"{key}x","fingerprint":"f"}`, 404, "license_not_found"),
		acquire("empty fingerprint", `{"license_key":"{key}","fingerprint":""}`, 400, "invalid_request"),
		{"acquire: SQL bearer token", "POST", "/v1/acquire", "Bearer " + hostileSQL, `{"license_key":"{key}","fingerprint":"f"}`, "", nil, 401, "unauthorized"},
		{"acquire: 400 junk headers", "POST", "/v1/acquire", "", `{"license_key":"{key}","fingerprint":"f","seats":1}`, "", hostileHeaders(400, 40), 400, "invalid_request"},
		{"acquire: PUT", "PUT", "/v1/acquire", "", `{"license_key":"{key}","fingerprint":"f"}`, "", nil, 405, "method_not_allowed"},

		heartbeat("SQL session id", `{"session_id":"`+hostileSQL+`"}`, 404, "session_not_found"),
		heartbeat("Lua session id", `{"session_id":"`+strings.ReplaceAll(hostileLua, `"`, `\"`)+`"}`, 404, "session_not_found"),
		heartbeat("traversal session id", `{"session_id":"../../{session}"}`, 404, "session_not_found"),
		heartbeat("encoded traversal session id", `{"session_id":"%2e%2e%2f{session}"}`, 404, "session_not_found"),
		heartbeat("session id plus SQL", `{"session_id":"{session}' OR '1'='1"}`, 404, "session_not_found"),
		heartbeat("session id of no license", `{"session_id":"00000000000040008000000000000000.AAAAAAAAAAAAAAAAAAAAAA"}`, 404, "session_not_found"),
		heartbeat("escaped NUL session id", `{"session_id":"{session}\u0000"}`, 400, "invalid_request"),
		heartbeat("session id as number", `{"session_id":1e400}`, 400, "invalid_request"),
		heartbeat("session id of 129 bytes", `{"session_id":"`+strings.Repeat("s", 129)+`"}`, 400, "invalid_request"),
		heartbeat("duplicate session id", `{"session_id":"{session}","session_id":"x"}`, 400, "invalid_request"),
		heartbeat("NUL fingerprint", `{"session_id":"{session}","fingerprint":"\u0000"}`, 400, "invalid_request"),
		{"release: duplicate session id", "POST", "/v1/release", "", `{"session_id":"x","session_id":"{session}"}`, "", nil, 400, "invalid_request"},
		{"release: session id as array", "POST", "/v1/release", "", `{"session_id":["{session}"]}`, "", nil, 400, "invalid_request"},
		{"release: escaped NUL", "POST", "/v1/release", "", `{"session_id":"{session}\u0000"}`, "", nil, 400, "invalid_request"},

		admin("tenants: SQL slug", "POST", "/v1/tenants", `{"name":"x","slug":"`+hostileSQL+`"}`, 400, "invalid_request"),
		admin("tenants: Lua slug", "POST", "/v1/tenants", `{"name":"x","slug":"`+strings.ReplaceAll(hostileLua, `"`, `\"`)+`"}`, 400, "invalid_request"),
		admin("tenants: NUL name", "POST", "/v1/tenants", `{"name":"a\u0000","slug":"x"}`, 400, "invalid_request"),
		admin("tenants: invalid UTF-8 name", "POST", "/v1/tenants", "{\"name\":\"\xed\xa0\x80\",\"slug\":\"x\"}", 400, "invalid_request"),
		admin("tenants: name 1e400", "POST", "/v1/tenants", `{"name":1e400,"slug":"x"}`, 400, "invalid_request"),
		admin("tenants: duplicate slug", "POST", "/v1/tenants", `{"name":"x","slug":"x","slug":"acme"}`, 400, "invalid_request"),
		admin("tenants: NUL idp tenant", "POST", "/v1/tenants", `{"name":"x","slug":"x","idp_tenant_id":"\u0000"}`, 400, "invalid_request"),
		admin("tenants: taken slug", "POST", "/v1/tenants", `{"name":"x","slug":"acme"}`, 409, "slug_taken"),
		admin("tenants: patch SQL status", "PATCH", ten, `{"status":"suspended'--"}`, 400, "invalid_request"),
		admin("tenants: patch null name", "PATCH", ten, `{"name":null}`, 400, "invalid_request"),
		admin("tenants: patch traversal slug", "PATCH", ten, `{"slug":"../x"}`, 400, "invalid_request"),
		admin("tenants: patch nothing", "PATCH", ten, `{}`, 400, "invalid_request"),
		admin("tenants: patch a traversal id", "PATCH", "/v1/tenants/..%2F..%2Fetc", `{"name":"x"}`, 404, "tenant_not_found"),
		admin("tenants: patch an SQL id", "PATCH", "/v1/tenants/1%27%20OR%201%3D1", `{"name":"x"}`, 404, "tenant_not_found"),
		admin("tenants: delete an encoded traversal id", "DELETE", "/v1/tenants/%2e%2e%2f{tenant}", "", 404, "tenant_not_found"),
		admin("tenants: delete an uppercase id", "DELETE", "/v1/tenants/"+strings.ToUpper("{tenant}"), "", 404, "tenant_not_found"),
		{"tenants: no credential", "POST", "/v1/tenants", "", `{"name":"x","slug":"x"}`, "", nil, 401, "unauthorized"},
		{"tenants: SQL credential", "POST", "/v1/tenants", "Bearer ak_" + hostileSQL, `{"name":"x","slug":"x"}`, "", nil, 401, "unauthorized"},
		{"tenants: 600 KB credential", "POST", "/v1/tenants", "Bearer " + strings.Repeat("A", 600<<10), `{"name":"x","slug":"x"}`, "", nil, 401, "unauthorized"},

		admin("licenses: seats 0", "POST", ten+"/licenses", `{"product":"p","seats":0}`, 400, "invalid_request"),
		admin("licenses: seats -1", "POST", ten+"/licenses", `{"product":"p","seats":-1}`, 400, "invalid_request"),
		admin("licenses: seats over the limit", "POST", ten+"/licenses", `{"product":"p","seats":100001}`, 400, "invalid_request"),
		admin("licenses: seats 1e400", "POST", ten+"/licenses", `{"product":"p","seats":1e400}`, 400, "invalid_request"),
		admin("licenses: seats 2^64", "POST", ten+"/licenses", `{"product":"p","seats":18446744073709551616}`, 400, "invalid_request"),
		admin("licenses: seats 2^63-1", "POST", ten+"/licenses", `{"product":"p","seats":9223372036854775807}`, 400, "invalid_request"),
		admin("licenses: seats as string", "POST", ten+"/licenses", `{"product":"p","seats":"2"}`, 400, "invalid_request"),
		admin("licenses: seats 2.5", "POST", ten+"/licenses", `{"product":"p","seats":2.5}`, 400, "invalid_request"),
		admin("licenses: duplicate seats", "POST", ten+"/licenses", `{"product":"p","seats":1,"seats":100001}`, 400, "invalid_request"),
		admin("licenses: SQL product", "POST", ten+"/licenses", `{"product":"`+hostileSQL+`","seats":1}`, 400, "invalid_request"),
		admin("licenses: Lua product", "POST", ten+"/licenses", `{"product":"`+strings.ReplaceAll(hostileLua, `"`, `\"`)+`","seats":1}`, 400, "invalid_request"),
		admin("licenses: format product", "POST", ten+"/licenses", `{"product":"%s","seats":1}`, 400, "invalid_request"),
		admin("licenses: SQL leasing", "POST", ten+"/licenses", `{"product":"p","seats":1,"leasing":"per_user'--"}`, 400, "invalid_request"),
		admin("licenses: TTL over a day", "POST", ten+"/licenses", `{"product":"p","seats":1,"lease_ttl_seconds":86401}`, 400, "invalid_request"),
		admin("licenses: expiry in the past", "POST", ten+"/licenses", `{"product":"p","seats":1,"expires_at":"2001-01-01T00:00:00Z"}`, 400, "invalid_request"),
		admin("licenses: expiry in year 99999", "POST", ten+"/licenses", `{"product":"p","seats":1,"expires_at":"99999-01-01T00:00:00Z"}`, 400, "invalid_request"),
		admin("licenses: SQL tenant id", "POST", "/v1/tenants/x'%3B%20DROP%20TABLE%20licenses%3B--/licenses", validLicense, 404, "tenant_not_found"),
		admin("licenses: patch seats 0", "PATCH", lic, `{"seats":0}`, 400, "invalid_request"),
		admin("licenses: patch seats null", "PATCH", lic, `{"seats":null}`, 400, "invalid_request"),
		admin("licenses: patch status deleted", "PATCH", lic, `{"status":"deleted"}`, 400, "invalid_request"),
		admin("licenses: patch product", "PATCH", lic, `{"product":"other"}`, 400, "invalid_request"),
		admin("licenses: patch max per user -1", "PATCH", lic, `{"max_seats_per_user":-1}`, 400, "invalid_request"),
		admin("licenses: patch an encoded-slash id", "PATCH", ten+"/licenses/a%2F..%2Fb", `{"seats":1}`, 404, "license_not_found"),
		admin("licenses: patch an SQL id", "PATCH", ten+"/licenses/%27%20OR%201%3D1--", `{"seats":1}`, 404, "license_not_found"),
		admin("licenses: certificate of a traversal id", "POST", ten+"/licenses/..%252F{license}/certificate", "", 404, "license_not_found"),
		admin("licenses: sessions limit 0", "GET", lic+"/sessions?limit=0", "", 400, "invalid_request"),
		admin("licenses: sessions limit 2^64", "GET", lic+"/sessions?limit=18446744073709551616", "", 400, "invalid_request"),
		admin("licenses: forged cursor", "GET", ten+"/licenses?cursor="+hostileCursor(hostileSQL), "", 400, "invalid_request"),

		admin("licenses: rotate with grace -1", "POST", lic+"/rotate-key", `{"grace_seconds":-1}`, 400, "invalid_request"),
		admin("licenses: rotate with grace over a week", "POST", lic+"/rotate-key", `{"grace_seconds":604801}`, 400, "invalid_request"),
		admin("licenses: rotate with grace 1e400", "POST", lic+"/rotate-key", `{"grace_seconds":1e400}`, 400, "invalid_request"),
		admin("licenses: rotate with grace as string", "POST", lic+"/rotate-key", `{"grace_seconds":"60"}`, 400, "invalid_request"),
		admin("licenses: rotate with duplicate grace", "POST", lic+"/rotate-key", `{"grace_seconds":1,"grace_seconds":604801}`, 400, "invalid_request"),
		admin("licenses: end an SQL session digest", "DELETE", lic+"/sessions/%27%20OR%201%3D1--", "", 404, "session_not_found"),
		admin("licenses: end a Lua session digest", "DELETE", lic+"/sessions/%22%5D%5D%29redis.call%28%27FLUSHALL%27%29--", "", 404, "session_not_found"),
		admin("licenses: end a session of a traversal license", "DELETE", ten+"/licenses/..%2F{license}/sessions/00", "", 404, "license_not_found"),
		admin("licenses: revoke all of an SQL license id", "POST", ten+"/licenses/%27%20OR%201%3D1/sessions:revoke-all", "", 404, "license_not_found"),

		admin("members: platform_admin role", "POST", ten+"/members", `{"email":"x@example.com","role":"platform_admin"}`, 400, "invalid_request"),
		admin("members: duplicate role", "POST", ten+"/members", `{"email":"x@example.com","role":"member","role":"admin"}`, 400, "invalid_request"),
		admin("members: SQL e-mail", "POST", ten+"/members", `{"email":"`+hostileSQL+`","role":"member"}`, 400, "invalid_request"),
		admin("members: NUL e-mail", "POST", ten+"/members", `{"email":"a\u0000@example.com","role":"member"}`, 400, "invalid_request"),
		admin("members: two @", "POST", ten+"/members", `{"email":"a@b@example.com","role":"member"}`, 400, "invalid_request"),
		admin("members: unknown kind", "POST", ten+"/members", `{"email":"x@example.com","role":"member","kind":"robot"}`, 400, "invalid_request"),
		admin("members: e-mail as array", "POST", ten+"/members", `{"email":["x@example.com"],"role":"member"}`, 400, "invalid_request"),
		admin("members: patch an SQL id", "PATCH", ten+"/members/%27%20OR%201%3D1", `{"role":"admin"}`, 404, "member_not_found"),
		admin("members: delete a traversal id", "DELETE", ten+"/members/..%2F..%2F", "", 404, "member_not_found"),
		admin("members: forged cursor", "GET", ten+"/members?cursor="+hostileCursor(hostileSQL), "", 400, "invalid_request"),
		admin("platform members: member role", "POST", "/v1/platform/members", `{"email":"x@example.com","role":"member"}`, 400, "invalid_request"),

		admin("api keys: platform_admin role", "POST", ten+"/api-keys", `{"name":"x","role":"platform_admin"}`, 400, "invalid_request"),
		admin("api keys: duplicate role", "POST", ten+"/api-keys", `{"name":"x","role":"member","role":"platform_admin"}`, 400, "invalid_request"),
		admin("api keys: SQL role", "POST", ten+"/api-keys", `{"name":"x","role":"admin'--"}`, 400, "invalid_request"),
		admin("api keys: NUL name", "POST", ten+"/api-keys", `{"name":"\u0000","role":"member"}`, 400, "invalid_request"),
		admin("api keys: revoke an SQL id", "DELETE", ten+"/api-keys/%27%3B%20DROP%20TABLE%20api_keys%3B--", "", 404, "api_key_not_found"),
		admin("api keys: forged cursor", "GET", ten+"/api-keys?cursor="+hostileCursor(hostileSQL), "", 400, "invalid_request"),

		admin("repositories: NUL in remote path", "POST", ten+"/repositories", `{"name":"x","remote_url":"https://github.com/a/b%00"}`, 400, "invalid_request"),
		admin("repositories: newline in remote path", "POST", ten+"/repositories", `{"name":"x","remote_url":"https://github.com/a/b%0d%0a"}`, 400, "invalid_request"),
		admin("repositories: file remote", "POST", ten+"/repositories", `{"name":"x","remote_url":"file:///etc/passwd"}`, 400, "invalid_request"),
		admin("repositories: traversal remote", "POST", ten+"/repositories", `{"name":"x","remote_url":"git@github.com:a/../../b"}`, 400, "invalid_request"),
		admin("repositories: SQL remote", "POST", ten+"/repositories", `{"name":"x","remote_url":"`+hostileSQL+`"}`, 400, "invalid_request"),
		admin("repositories: taken remote", "POST", ten+"/repositories", `{"name":"x","remote_url":"https://github.com/acme/widget"}`, 409, "remote_taken"),
		admin("repositories: NUL name", "POST", ten+"/repositories", `{"name":"\u0000","remote_url":"git@h:a/b"}`, 400, "invalid_request"),
		admin("repositories: patch provider of 51 bytes", "PATCH", ten+"/repositories/{repo}", `{"provider":"`+strings.Repeat("p", 51)+`"}`, 400, "invalid_request"),
		admin("repositories: patch null name", "PATCH", ten+"/repositories/{repo}", `{"name":null}`, 400, "invalid_request"),
		admin("repositories: patch a traversal id", "PATCH", ten+"/repositories/..%2F{repo}", `{"name":"x"}`, 404, "repository_not_found"),

		admin("workstations: blocked as string", "PATCH", ten+"/workstations/{ws}", `{"blocked":"true"}`, 400, "invalid_request"),
		admin("workstations: blocked null", "PATCH", ten+"/workstations/{ws}", `{"blocked":null}`, 400, "invalid_request"),
		admin("workstations: duplicate blocked", "PATCH", ten+"/workstations/{ws}", `{"blocked":false,"blocked":true}`, 400, "invalid_request"),
		admin("workstations: patch an SQL id", "PATCH", ten+"/workstations/1%27%20OR%20%271%27%3D%271", `{"blocked":true}`, 404, "workstation_not_found"),

		admin("usage: SQL group_by", "GET", ten+"/usage?group_by=license%27%3B%20DROP%20TABLE%20usage%3B--", "", 400, "invalid_request"),
		admin("usage: year 10000", "GET", ten+"/usage?to=10000-01-01T00:00:00Z", "", 400, "invalid_request"),
		admin("usage: ten years of hours", "GET", ten+"/usage?granularity=hour&from=2016-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "", 400, "invalid_request"),
		admin("audit: forged cursor", "GET", ten+"/audit?cursor="+hostileCursor(hostileSQL), "", 400, "invalid_request"),
		admin("audit: limit 1e3", "GET", ten+"/audit?limit=1e3", "", 400, "invalid_request"),
	}
	// Lists keyed by UUID given an audit-style (integer) id, and the audit
	// log given a UUID: each is a cursor of another list.
	for _, list := range []string{"/v1/tenants", ten + "/licenses", ten + "/api-keys", ten + "/repositories", ten + "/workstations"} {
		cases = append(cases, admin("forged integer cursor on "+list, "GET", list+"?cursor="+hostileCursor("12"), "", 400, "invalid_request"))
	}
	cases = append(cases, admin("forged UUID cursor on the audit log", "GET", ten+"/audit?cursor="+hostileCursor("00000000-0000-4000-8000-000000000000"), "", 400, "invalid_request"),
		admin("forged SQL cursor on workstations", "GET", ten+"/workstations?cursor="+hostileCursor(hostileSQL), "", 400, "invalid_request"),
		admin("forged SQL cursor on tenants", "GET", "/v1/tenants?cursor="+hostileCursor(hostileSQL), "", 400, "invalid_request"))
	cases = append(cases, hostileMetacharacters()...)
	cases = append(cases, hostileBodies("acquire: ", "POST", "/v1/acquire", "", `{"license_key":"{key}","fingerprint":"f"}`)...)
	cases = append(cases, hostileBodies("heartbeat: ", "POST", "/v1/heartbeat", "", `{"session_id":"{session}"}`)...)
	cases = append(cases, hostileBodies("tenants: ", "POST", "/v1/tenants", "admin", `{"name":"x","slug":"x"}`)...)
	cases = append(cases, hostileBodies("licenses: ", "PATCH", lic, "admin", `{"seats":1}`)...)
	cases = append(cases, hostileBodies("api keys: ", "POST", ten+"/api-keys", "admin", `{"name":"x","role":"member"}`)...)
	cases = append(cases, hostileBodies("release: ", "POST", "/v1/release", "", `{"session_id":"{session}"}`)...)
	cases = append(cases, hostileBodies("tenant patch: ", "PATCH", ten, "admin", `{"name":"x"}`)...)
	cases = append(cases, hostileBodies("license create: ", "POST", ten+"/licenses", "admin", validLicense)...)
	cases = append(cases, hostileBodies("repositories: ", "POST", ten+"/repositories", "admin", `{"name":"x","remote_url":"git@h:a/b"}`)...)
	cases = append(cases, hostileBodies("repository patch: ", "PATCH", ten+"/repositories/{repo}", "admin", `{"name":"x"}`)...)
	cases = append(cases, hostileBodies("workstations: ", "PATCH", ten+"/workstations/{ws}", "admin", `{"blocked":true}`)...)
	return cases
}

// hostileMetacharacters puts SQL, Lua and format metacharacters in every
// string field whose value is checked against a form (free-text fields take
// them: see TestHostileValidMetacharacters), in bodies and query strings.
func hostileMetacharacters() []hostile {
	type field struct {
		name, method, path, body string // body (or path) holds VALUE, a JSON string
		status                   int
		code                     string
	}
	ten := "/v1/tenants/{tenant}"
	fields := []field{
		{"acquire license_key", "POST", "/v1/acquire", `{"license_key":VALUE,"fingerprint":"f"}`, 404, "license_not_found"},
		{"acquire repository", "POST", "/v1/acquire", `{"license_key":"{key}","fingerprint":"f","repository":VALUE}`, 400, "invalid_request"},
		{"heartbeat session_id", "POST", "/v1/heartbeat", `{"session_id":VALUE}`, 404, "session_not_found"},
		{"acquire instance_id", "POST", "/v1/acquire", `{"license_key":"{key}","fingerprint":"f","instance_id":VALUE}`, 400, "invalid_request"},
		{"heartbeat instance_id", "POST", "/v1/heartbeat", `{"session_id":"s","instance_id":VALUE}`, 400, "invalid_request"},
		{"release instance_id", "POST", "/v1/release", `{"session_id":"s","instance_id":VALUE}`, 400, "invalid_request"},
		{"tenant slug", "POST", "/v1/tenants", `{"name":"x","slug":VALUE}`, 400, "invalid_request"},
		{"tenant patch slug", "PATCH", ten, `{"slug":VALUE}`, 400, "invalid_request"},
		{"tenant patch status", "PATCH", ten, `{"status":VALUE}`, 400, "invalid_request"},
		{"license product", "POST", ten + "/licenses", `{"product":VALUE,"seats":1}`, 400, "invalid_request"},
		{"license leasing", "POST", ten + "/licenses", `{"product":"p","seats":1,"leasing":VALUE}`, 400, "invalid_request"},
		{"license expires_at", "POST", ten + "/licenses", `{"product":"p","seats":1,"expires_at":VALUE}`, 400, "invalid_request"},
		{"license patch status", "PATCH", ten + "/licenses/{license}", `{"status":VALUE}`, 400, "invalid_request"},
		{"license patch leasing", "PATCH", ten + "/licenses/{license}", `{"leasing":VALUE}`, 400, "invalid_request"},
		{"license patch expires_at", "PATCH", ten + "/licenses/{license}", `{"expires_at":VALUE}`, 400, "invalid_request"},
		{"api key role", "POST", ten + "/api-keys", `{"name":"x","role":VALUE}`, 400, "invalid_request"},
		{"repository remote_url", "POST", ten + "/repositories", `{"name":"x","remote_url":VALUE}`, 400, "invalid_request"},
		{"repository patch remote_url", "PATCH", ten + "/repositories/{repo}", `{"remote_url":VALUE}`, 400, "invalid_request"},
		{"workstation blocked", "PATCH", ten + "/workstations/{ws}", `{"blocked":VALUE}`, 400, "invalid_request"},
	}
	queries := []field{
		{"usage group_by", "GET", ten + "/usage?group_by=VALUE", "", 400, "invalid_request"},
		{"usage granularity", "GET", ten + "/usage?granularity=VALUE", "", 400, "invalid_request"},
		{"usage from", "GET", ten + "/usage?from=VALUE", "", 400, "invalid_request"},
		{"usage to", "GET", ten + "/usage?to=VALUE", "", 400, "invalid_request"},
		{"tenants cursor", "GET", "/v1/tenants?cursor=VALUE", "", 400, "invalid_request"},
		{"repositories limit", "GET", ten + "/repositories?limit=VALUE", "", 400, "invalid_request"},
	}
	var out []hostile
	for _, meta := range []string{hostileSQL, hostileLua, "%s%n%x"} {
		value, _ := json.Marshal(meta)
		for _, f := range fields {
			token := "admin"
			if !strings.HasPrefix(f.path, "/v1/tenants") {
				token = "" // the SDK calls take no admin credential
			}
			out = append(out, hostile{"metacharacters: " + f.name + " " + meta, f.method, f.path, token,
				strings.ReplaceAll(f.body, "VALUE", string(value)), "", nil, f.status, f.code})
		}
		for _, f := range queries {
			out = append(out, hostile{"metacharacters: " + f.name + " " + meta, f.method,
				strings.ReplaceAll(f.path, "VALUE", url.QueryEscape(meta)), "admin", "", "", nil, f.status, f.code})
		}
	}
	return out
}

// hostileCursor is a well-formed cursor this API never gave out, naming
// row id.
func hostileCursor(id string) string {
	return database.Cursor{At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ID: id}.Encode()
}

func hostileHeaders(n, size int) http.Header {
	h := http.Header{}
	for i := range n {
		h.Set(fmt.Sprintf("X-Junk-%d", i), strings.Repeat("j", size))
	}
	return h
}

// TestHostileRequests sends every hostile request through the real server
// and checks each is refused with its 4xx and the JSON error envelope, and
// that nothing in PostgreSQL or Redis changed. The cases of one fixture run
// one after another (a snapshot must see only its own request); the
// fixtures run in parallel.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	cases := hostileCases()
	if len(cases) < 60 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
	t.Run("floods", hostileFloods)
	const groups = 3
	for g := range groups {
		t.Run(fmt.Sprintf("group %d", g), func(t *testing.T) {
			t.Parallel()
			f := newHostileFixture(t)
			before := f.snapshot(t)
			for i := g; i < len(cases); i += groups {
				h := cases[i]
				t.Run(h.name, func(t *testing.T) {
					got := f.send(t, h)
					after := f.snapshot(t)
					defer func() { before = after }()
					if d := before.diff(after); d != "" {
						t.Errorf("it changed %s", d)
					}
					hostileRefused(t, h, got)
				})
			}
		})
	}
}

// TestHostileReleaseIsHarmless: releasing a session id that is not one (SQL,
// Lua, traversal, another license's) is not an error by contract (200
// {"released":false}: the seat is gone either way), and changes nothing.
func TestHostileReleaseIsHarmless(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t)
	before := f.snapshot(t)
	for _, id := range []string{hostileSQL, hostileLua, "../../{session}", "%2e%2e%2f{session}", "{session}' OR '1'='1",
		"%s%n", "00000000000040008000000000000000.AAAAAAAAAAAAAAAAAAAAAA", strings.ToUpper("{session}"), "{session}x"} {
		body, err := json.Marshal(map[string]string{"session_id": f.fill(id)})
		if err != nil {
			t.Fatal(err)
		}
		got := f.send(t, hostile{method: "POST", path: "/v1/release", body: string(body)})
		if got.status != 200 || got.header.Get("Content-Type") != "application/json" ||
			strings.TrimSpace(string(got.raw)) != `{"released":false,"seat_freed":false}` {
			t.Errorf("release %q: %d %s", id, got.status, got.raw)
		}
		after := f.snapshot(t)
		if d := before.diff(after); d != "" {
			t.Errorf("release %q changed %s", id, d)
		}
		before = after
	}
}

// TestHostileValidMetacharacters: metacharacters are valid in free-text
// fields (a hostname "a'b", a tenant named after SQL). Such a request
// succeeds, the value reads back byte for byte, and it changes only what
// it says: one row (and its audit entry), or one seat.
func TestHostileValidMetacharacters(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t)
	a, ten := f.a, "/v1/tenants/"+f.ids["{tenant}"]
	nasty := []string{hostileSQL, hostileLua, "%s%n%x", "a'b\"c\\d", "ünï ☃ 𝄞", `{"$gt":""}`}
	// changed fails unless exactly the tables named changed, each by one
	// more row, and Redis did not change.
	changed := func(t *testing.T, before, after hostileState, tables ...string) {
		t.Helper()
		for name, d := range after.tables {
			var n0, n1 int
			fmt.Sscanf(before.tables[name], "%d:", &n0)
			fmt.Sscanf(d, "%d:", &n1)
			if want := slices.Contains(tables, name); want && n1 != n0+1 || !want && d != before.tables[name] {
				t.Errorf("table %s: %s -> %s", name, before.tables[name], d)
			}
		}
		if !maps.Equal(before.keys, after.keys) || before.seats != after.seats {
			t.Errorf("Redis changed: %s", before.diff(hostileState{tables: before.tables, keys: after.keys, seats: after.seats}))
		}
	}
	for i, s := range nasty {
		before := f.snapshot(t)
		tenant := a.expect(a.admin("POST", "/v1/tenants", map[string]any{"name": s, "slug": fmt.Sprintf("t%d", i),
			"idp_tenant_id": s}), 201, "")
		got := a.expect(a.admin("GET", "/v1/tenants/"+tenant.str("id"), nil), 200, "")
		if got.str("name") != s || got.str("idp_tenant_id") != s {
			t.Errorf("tenant %q read back as %s", s, got.raw)
		}
		changed(t, before, f.snapshot(t), "tenants", "audit_log")

		before = f.snapshot(t)
		key := a.expect(a.admin("POST", ten+"/api-keys", map[string]any{"name": s, "role": "member"}), 201, "")
		if key.str("name") != s {
			t.Errorf("API key %q created as %s", s, key.raw)
		}
		changed(t, before, f.snapshot(t), "api_keys", "audit_log", "outbox_events") // api_key.created (schema/010)

		before = f.snapshot(t)
		repo := a.expect(a.admin("POST", ten+"/repositories", map[string]any{"name": s, "provider": s, "default_branch": s,
			"remote_url": fmt.Sprintf("git@github.com:acme/r%d.git", i)}), 201, "")
		got = a.expect(a.admin("GET", ten+"/repositories/"+repo.str("id"), nil), 200, "")
		if got.str("name") != s || got.str("provider") != s || got.str("default_branch") != s {
			t.Errorf("repository %q read back as %s", s, got.raw)
		}
		changed(t, before, f.snapshot(t), "repositories", "audit_log")
	}
	// Free-text fields of an acquire, on a license of its own with room:
	// the session lists them verbatim, and takes exactly one seat.
	licID, key := a.license(f.ids["{tenant}"], map[string]any{"seats": 10, "lease_ttl_seconds": 3600})
	for i, s := range nasty {
		fp := fmt.Sprintf("%s-%d", s, i)
		a.expect(a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": fp, "hostname": s,
			"os": s, "user": s}), 200, "")
		list := a.expect(a.admin("GET", ten+"/licenses/"+licID+"/sessions", nil), 200, "")
		found := 0
		all, _ := list.body["sessions"].([]any)
		for _, x := range all {
			if m, _ := x.(map[string]any); m["fingerprint"] == fp {
				found++
				if m["hostname"] != s || m["os"] != s || m["user"] != s {
					t.Errorf("session of %q listed as %v", s, m)
				}
			}
		}
		if found != 1 || len(all) != i+1 {
			t.Errorf("after acquire %d (%q): %d sessions, %d of its fingerprint", i, s, len(all), found)
		}
	}
}

// TestHostileOversizedHeader: a header block over the server's limits is
// refused by net/http itself, before any handler runs, with its own
// plain-text 431 (not the JSON envelope: no handler of ours sees the
// request, and http.Server has no hook to change that answer). The limits
// are the size (the local server sets MaxHeaderBytes to 64 KiB; this test
// server keeps the default of 1 MiB) and, since Go 1.27, the number of
// header values (500 by default). Nothing is written.
func TestHostileOversizedHeader(t *testing.T) {
	t.Parallel()
	// The header-value limit is Go 1.27's; make test runs the toolchain
	// the Makefile sets (GOTOOLCHAIN=go1.27.3).
	if v := runtime.Version(); strings.HasPrefix(v, "go1.26") || strings.HasPrefix(v, "go1.25") {
		t.Fatalf("built with %s, which has no limit on the number of header values: run the tests with Go 1.27 or later (make test sets GOTOOLCHAIN=go1.27.3)", v)
	}
	f := newHostileFixture(t)
	before := f.snapshot(t)
	for name, h := range map[string]http.Header{
		"a 2 MiB header":     {"X-Flood": {strings.Repeat("f", 2<<20)}},
		"1,000 junk headers": hostileHeaders(1000, 40),
	} {
		got := f.send(t, hostile{method: "POST", path: "/v1/tenants", token: "admin", body: `{"name":"x","slug":"x"}`, header: h})
		if got.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: %d %.200s", name, got.status, got.raw)
		}
		got = f.send(t, hostile{method: "POST", path: "/v1/acquire", body: `{"license_key":"{key}","fingerprint":"flood"}`, header: h})
		if got.status != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s on acquire: %d %.200s", name, got.status, got.raw)
		}
	}
	if d := before.diff(f.snapshot(t)); d != "" {
		t.Errorf("oversized headers changed %s", d)
	}
}

// TestHostileUncleanPaths: a path with "..", "." or "//" segments sent raw
// is answered by net/http's ServeMux itself, before any handler, with a 307
// to the cleaned path (no body, so no JSON envelope: it is a redirect, not
// an error). The redirect stays on this server (a path, never "//host"),
// and nothing is written.
func TestHostileUncleanPaths(t *testing.T) {
	t.Parallel()
	f := newHostileFixture(t)
	before := f.snapshot(t)
	for path, want := range map[string]string{
		"/v1/tenants/{tenant}/../{tenant}": "/v1/tenants/{tenant}",
		"/v1/tenants/{tenant}/./licenses":  "/v1/tenants/{tenant}/licenses",
		"/v1//tenants":                     "/v1/tenants",
		"//evil.example/v1/acquire":        "/evil.example/v1/acquire",
		"/v1/acquire/../../../etc/passwd":  "/etc/passwd",
	} {
		req, err := http.NewRequest("POST", f.a.srv.URL+f.fill(path), strings.NewReader(`{"name":"x","slug":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		resp, err := http.DefaultTransport.RoundTrip(req) // not following the redirect
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != f.fill(want) {
			t.Errorf("%s: %d to %q, want 307 to %q", path, resp.StatusCode, resp.Header.Get("Location"), f.fill(want))
		}
	}
	if d := before.diff(f.snapshot(t)); d != "" {
		t.Errorf("unclean paths changed %s", d)
	}
}
