package e2e_test

import (
	"strings"
	"testing"
	"time"
)

func TestAcquireHeartbeatRelease(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	licenseID, key := a.license(tenant, map[string]any{"seats": 2, "lease_ttl_seconds": 60})

	g := a.expect(a.call("POST", "/v1/acquire", "", map[string]any{
		"license_key": key, "fingerprint": "ws-1", "hostname": "laptop", "user": "ada"}), 200, "")
	if g.num("seats_used") != 1 || g.num("seats_total") != 2 || g.num("heartbeat_interval_seconds") != 20 || g.body["resumed"] != false {
		t.Fatalf("acquire = %s", g.raw)
	}
	exp, err := time.Parse(time.RFC3339, g.str("expires_at"))
	if err != nil || time.Until(exp) < 55*time.Second || time.Until(exp) > 65*time.Second {
		t.Fatalf("expires_at %q is not one lease away", g.str("expires_at"))
	}
	sid := g.str("session_id")

	again := a.expect(a.acquire(key, "ws-1"), 200, "")
	if again.str("session_id") != sid || again.body["resumed"] != true || again.num("seats_used") != 1 {
		t.Fatalf("re-acquire = %s", again.raw)
	}
	a.expect(a.acquire(key, "ws-2"), 200, "")
	full := a.expect(a.acquire(key, "ws-3"), 409, "no_seats_available")
	if full.num("seats_used") != 2 || full.num("seats_total") != 2 {
		t.Fatalf("409 = %s", full.raw)
	}

	hb := a.expect(a.heartbeat(sid), 200, "")
	if hb.str("session_id") != sid || hb.str("expires_at") == "" || hb.num("heartbeat_interval_seconds") != 20 {
		t.Fatalf("heartbeat = %s", hb.raw)
	}

	sessions := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID+"/sessions", nil), 200, "")
	list, _ := sessions.body["sessions"].([]any)
	if len(list) != 2 || !strings.Contains(sessions.raw, `"hostname":"laptop"`) || !strings.Contains(sessions.raw, `"user":"ada"`) {
		t.Fatalf("sessions = %s", sessions.raw)
	}
	lic := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID, nil), 200, "")
	if lic.num("seats_used") != 2 {
		t.Fatalf("license seats_used = %s", lic.raw)
	}

	if r := a.expect(a.release(sid), 200, ""); r.body["released"] != true {
		t.Fatalf("release = %s", r.raw)
	}
	if r := a.expect(a.release(sid), 200, ""); r.body["released"] != false {
		t.Fatalf("second release = %s", r.raw)
	}
	a.expect(a.heartbeat(sid), 404, "session_not_found")
	a.expect(a.acquire(key, "ws-3"), 200, "")

	// One line per request, and no credential in any of them.
	logs := a.logs()
	if n := strings.Count(logs, `"message":"request"`); n < 12 {
		t.Fatalf("%d request lines logged", n)
	}
	for _, secret := range []string{key, adminToken, sid} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a credential was logged: %s", secret)
		}
	}
	if !strings.Contains(logs, `"severity":"INFO"`) || !strings.Contains(logs, `"function":"Acquire"`) ||
		!strings.Contains(logs, `"requestUrl":"/v1/acquire"`) {
		t.Fatalf("request lines lack Cloud Logging fields:\n%s", logs)
	}
}

func TestAcquireErrors(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	licenseID, key := a.license(tenant, nil)
	wrongSecret := key[:len(key)-4] + "AAAA"
	if wrongSecret == key {
		wrongSecret = key[:len(key)-4] + "BBBB"
	}
	cases := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"wrong secret", map[string]any{"license_key": wrongSecret, "fingerprint": "ws"}, 404, "license_not_found"},
		{"malformed key", map[string]any{"license_key": "lk_nope", "fingerprint": "ws"}, 404, "license_not_found"},
		{"key of no license", map[string]any{"license_key": "lk_00000000000000000000000000000000_" + strings.Repeat("A", 43), "fingerprint": "ws"}, 404, "license_not_found"},
		{"missing key", map[string]any{"fingerprint": "ws"}, 400, "invalid_request"},
		{"missing fingerprint", map[string]any{"license_key": key}, 400, "invalid_request"},
		{"fingerprint too long", map[string]any{"license_key": key, "fingerprint": strings.Repeat("f", 257)}, 400, "invalid_request"},
		{"control character", map[string]any{"license_key": key, "fingerprint": "ws\n"}, 400, "invalid_request"},
		{"unknown field", map[string]any{"license_key": key, "fingerprint": "ws", "seats": 99}, 400, "invalid_request"},
		{"wrong type", map[string]any{"license_key": key, "fingerprint": 7}, 400, "invalid_request"},
		{"malformed JSON", `{"license_key":`, 400, "invalid_request"},
		{"two objects", `{"fingerprint":"a"}{"fingerprint":"b"}`, 400, "invalid_request"},
		{"array", `[1,2]`, 400, "invalid_request"},
		{"empty", ``, 400, "invalid_request"},
		{"invalid UTF-8", "{\"license_key\":\"" + key + "\",\"fingerprint\":\"\xff\"}", 400, "invalid_request"},
		{"too large", `{"fingerprint":"` + strings.Repeat("x", 70000) + `"}`, 413, "payload_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a.t = t
			a.expect(a.call("POST", "/v1/acquire", "", c.body), c.status, c.code)
		})
	}
	a.t = t
	// Content type and method.
	req := mustRequest(t, "POST", a.srv.URL+"/v1/acquire", `{"license_key":"x","fingerprint":"y"}`)
	req.Header.Set("Content-Type", "text/plain")
	a.expect(a.do(req), 415, "unsupported_media_type")
	req = mustRequest(t, "POST", a.srv.URL+"/v1/acquire", `{"license_key":"x","fingerprint":"y"}`)
	a.expect(a.do(req), 415, "unsupported_media_type")
	r := a.expect(a.call("GET", "/v1/acquire", "", nil), 405, "method_not_allowed")
	if r.header.Get("Allow") != "POST" {
		t.Fatalf("Allow = %q", r.header.Get("Allow"))
	}
	// None of it took a seat.
	lic := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID, nil), 200, "")
	if lic.num("seats_used") != 0 {
		t.Fatalf("bad requests took seats: %s", lic.raw)
	}
}

func TestLicenseStateReachesTheSDK(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	path := func(id string) string { return "/v1/tenants/" + tenant + "/licenses/" + id }

	t.Run("suspended", func(t *testing.T) {
		a := *a
		a.t = t
		id, key := a.license(tenant, nil)
		sid := a.expect(a.acquire(key, "ws"), 200, "").str("session_id")
		a.expect(a.admin("PATCH", path(id), map[string]any{"status": "suspended"}), 200, "")
		a.expect(a.acquire(key, "ws-2"), 403, "license_inactive")
		a.expect(a.heartbeat(sid), 403, "license_inactive")
		a.expect(a.heartbeat(sid), 404, "session_not_found")
		a.expect(a.admin("PATCH", path(id), map[string]any{"status": "active"}), 200, "")
		a.expect(a.acquire(key, "ws-2"), 200, "")
	})
	t.Run("expired", func(t *testing.T) {
		a := *a
		a.t = t
		id, key := a.license(tenant, nil)
		a.expect(a.admin("PATCH", path(id), map[string]any{"expires_at": time.Now().Add(-time.Minute).Format(time.RFC3339)}), 200, "")
		a.expect(a.acquire(key, "ws"), 403, "license_inactive")
		a.expect(a.admin("PATCH", path(id), map[string]any{"expires_at": nil}), 200, "")
		a.expect(a.acquire(key, "ws"), 200, "")
	})
	t.Run("deleted", func(t *testing.T) {
		a := *a
		a.t = t
		id, key := a.license(tenant, nil)
		sid := a.expect(a.acquire(key, "ws"), 200, "").str("session_id")
		if r := a.admin("DELETE", path(id), nil); r.status != 204 || r.raw != "" {
			t.Fatalf("delete = %d %s", r.status, r.raw)
		}
		a.expect(a.acquire(key, "ws"), 404, "license_not_found")
		a.expect(a.heartbeat(sid), 403, "license_inactive")
		a.expect(a.admin("GET", path(id), nil), 404, "license_not_found")
		a.expect(a.admin("DELETE", path(id), nil), 404, "license_not_found")
	})
	t.Run("seats lowered", func(t *testing.T) {
		a := *a
		a.t = t
		id, key := a.license(tenant, map[string]any{"seats": 3})
		s1 := a.expect(a.acquire(key, "a"), 200, "").str("session_id")
		a.expect(a.acquire(key, "b"), 200, "")
		a.expect(a.acquire(key, "c"), 200, "")
		a.expect(a.admin("PATCH", path(id), map[string]any{"seats": 1}), 200, "")
		a.expect(a.heartbeat(s1), 200, "")
		a.expect(a.acquire(key, "d"), 409, "no_seats_available")
		a.expect(a.release(s1), 200, "")
		a.expect(a.acquire(key, "d"), 409, "no_seats_available")
	})
	t.Run("tenant suspended then deleted", func(t *testing.T) {
		a := *a
		a.t = t
		other := a.tenant("other")
		_, key := a.license(other, nil)
		sid := a.expect(a.acquire(key, "ws"), 200, "").str("session_id")
		a.expect(a.admin("PATCH", "/v1/tenants/"+other, map[string]any{"status": "suspended"}), 200, "")
		a.expect(a.acquire(key, "ws-2"), 403, "license_inactive")
		a.expect(a.heartbeat(sid), 403, "license_inactive")
		a.expect(a.admin("PATCH", "/v1/tenants/"+other, map[string]any{"status": "active"}), 200, "")
		sid = a.expect(a.acquire(key, "ws-2"), 200, "").str("session_id")
		if r := a.admin("DELETE", "/v1/tenants/"+other, nil); r.status != 204 {
			t.Fatalf("delete tenant = %d %s", r.status, r.raw)
		}
		a.expect(a.acquire(key, "ws-3"), 404, "license_not_found")
		a.expect(a.heartbeat(sid), 403, "license_inactive")
	})
	t.Run("expired session", func(t *testing.T) {
		a := *a
		a.t = t
		_, key := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 1})
		old := a.expect(a.acquire(key, "ws"), 200, "").str("session_id")
		a.expect(a.acquire(key, "ws-2"), 409, "no_seats_available")
		time.Sleep(1100 * time.Millisecond)
		// No cleanup has run; the expired session simply no longer counts.
		a.expect(a.acquire(key, "ws-2"), 200, "")
		// And it cannot come back: its seat is taken.
		a.expect(a.heartbeat(old), 404, "session_not_found")
		if r := a.expect(a.release(old), 200, ""); r.body["released"] != false {
			t.Fatalf("release of expired session = %s", r.raw)
		}
	})
	t.Run("metadata lost from Redis is reloaded from PostgreSQL", func(t *testing.T) {
		a := *a
		a.t = t
		id, key := a.license(tenant, map[string]any{"seats": 1})
		// As if Redis lost its data: the license's metadata is gone.
		if err := a.b.Redis.Del(t.Context(), a.prefix+"{"+id+"}:m").Err(); err != nil {
			t.Fatal(err)
		}
		a.expect(a.acquire(key, "ws"), 200, "")
		a.expect(a.acquire(key, "ws-2"), 409, "no_seats_available")
	})
}
