package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/tokens"
)

func TestLicensePolicy(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	a := newIdentityAPI(t, p, config.RateLimit{})
	tenant := a.tenant("acme")
	other := a.tenant("other")
	base := "/v1/tenants/" + tenant
	member := a.expect(a.admin("POST", base+"/api-keys", map[string]any{"name": "sdk", "role": "member"}), 201, "").str("key")
	otherMember := a.expect(a.admin("POST", "/v1/tenants/"+other+"/api-keys", map[string]any{"name": "sdk", "role": "member"}), 201, "").str("key")
	// People sign in by membership. Ada is a member of both tenants: an
	// acquire under require_user takes the membership of the license's.
	for _, m := range []struct{ tenant, email string }{{tenant, "ada@example.com"}, {other, "ada@example.com"}, {tenant, "bob@example.com"}} {
		a.expect(a.admin("POST", "/v1/tenants/"+m.tenant+"/members", map[string]any{"email": m.email, "role": "member"}), 201, "")
	}
	ada := p.token(t, jwt.MapClaims{"sub": "u-ada", "email": "ada@example.com", "email_verified": true})
	bob := p.token(t, jwt.MapClaims{"sub": "u-bob", "email": "bob@example.com", "email_verified": true})
	acquireAs := func(key, cred, fp string, extra map[string]any) reply {
		body := map[string]any{"license_key": key, "fingerprint": fp}
		for k, v := range extra {
			body[k] = v
		}
		return a.call("POST", "/v1/acquire", cred, body)
	}

	t.Run("require_user", func(t *testing.T) {
		a := *a
		a.t = t
		id, key := a.license(tenant, map[string]any{"require_user": true})
		c := a.expect(a.admin("GET", base+"/licenses/"+id, nil), 200, "")
		if c.body["require_user"] != true || c.str("leasing") != "per_fingerprint" {
			t.Fatalf("license = %s", c.raw)
		}
		if r := a.expect(acquireAs(key, "", "ws", map[string]any{"user": "ada"}), 401, "user_required"); r.header.Get("WWW-Authenticate") == "" {
			t.Fatal("401 user_required without WWW-Authenticate")
		}
		a.expect(acquireAs(key, otherMember, "ws", nil), 403, "forbidden")
		a.expect(acquireAs(key, "not-a-credential", "ws", nil), 401, "unauthorized")
		a.expect(acquireAs(key, ada, "ws-1", map[string]any{"user": "someone-else"}), 200, "")
		a.expect(acquireAs(key, member, "ws-2", nil), 200, "")
		s := a.expect(a.admin("GET", base+"/licenses/"+id+"/sessions", nil), 200, "")
		// The session records the authenticated user, not what the body said.
		if !strings.Contains(s.raw, `"user":"ada@example.com"`) || strings.Contains(s.raw, "someone-else") ||
			!strings.Contains(s.raw, `"user":"api_key:`) {
			t.Fatalf("sessions = %s", s.raw)
		}
	})
	t.Run("max_seats_per_user", func(t *testing.T) {
		a := *a
		a.t = t
		_, key := a.license(tenant, map[string]any{"seats": 10, "max_seats_per_user": 2})
		a.expect(acquireAs(key, ada, "ws-1", nil), 200, "")
		s2 := a.expect(acquireAs(key, ada, "ws-2", nil), 200, "").str("session_id")
		r := a.expect(acquireAs(key, ada, "ws-3", nil), 409, "user_seat_limit")
		if r.num("user_seats_used") != 2 || r.num("max_seats_per_user") != 2 {
			t.Fatalf("409 = %s", r.raw)
		}
		a.expect(acquireAs(key, bob, "ws-3", nil), 200, "")
		// Resuming a held seat is not a new one.
		a.expect(acquireAs(key, ada, "ws-1", nil), 200, "")
		a.expect(a.release(s2), 200, "")
		a.expect(acquireAs(key, ada, "ws-3", nil), 200, "")
		// Without an authenticated user, the body's user counts; none at all is a 400.
		a.expect(acquireAs(key, "", "ws-9", nil), 400, "invalid_request")
		a.expect(acquireAs(key, "", "ws-9", map[string]any{"user": "carol"}), 200, "")
	})
	t.Run("per_user leasing", func(t *testing.T) {
		a := *a
		a.t = t
		_, key := a.license(tenant, map[string]any{"seats": 2, "leasing": "per_user"})
		g1 := a.expect(acquireAs(key, ada, "laptop", nil), 200, "")
		g2 := a.expect(acquireAs(key, ada, "desktop", nil), 200, "")
		if g2.str("session_id") != g1.str("session_id") || g2.body["resumed"] != true || g2.num("seats_used") != 1 {
			t.Fatalf("second workstation of one person = %s", g2.raw)
		}
		a.expect(acquireAs(key, bob, "laptop", nil), 200, "")
		a.expect(acquireAs(key, "", "x", map[string]any{"user": "carol"}), 409, "no_seats_available")
		// One person's session held from two machines: each heartbeat's
		// lease names the machine asking.
		v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
		if err != nil {
			t.Fatal(err)
		}
		for _, fp := range []string{"desktop", "laptop"} {
			hb := a.expect(a.call("POST", "/v1/heartbeat", "", map[string]any{"session_id": g1.str("session_id"), "fingerprint": fp}), 200, "")
			if c, err := v.Verify(hb.str("lease"), time.Now()); err != nil || c.Fingerprint != fp {
				t.Fatalf("per-user heartbeat from %s: lease for %q, %v", fp, c.Fingerprint, err)
			}
		}
	})
	t.Run("per_fingerprint leases name the session's workstation", func(t *testing.T) {
		a := *a
		a.t = t
		_, key := a.license(tenant, nil)
		sid := a.expect(acquireAs(key, "", "laptop", nil), 200, "").str("session_id")
		v, _ := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
		hb := a.expect(a.call("POST", "/v1/heartbeat", "", map[string]any{"session_id": sid, "fingerprint": "elsewhere"}), 200, "")
		if c, err := v.Verify(hb.str("lease"), time.Now()); err != nil || c.Fingerprint != "laptop" {
			t.Fatalf("lease for %q, %v", c.Fingerprint, err)
		}
	})
	t.Run("policy changes apply to the next acquire", func(t *testing.T) {
		a := *a
		a.t = t
		id, key := a.license(tenant, nil)
		a.expect(acquireAs(key, "", "ws-1", nil), 200, "")
		p := a.expect(a.admin("PATCH", base+"/licenses/"+id, map[string]any{"require_user": true, "max_seats_per_user": 1}), 200, "")
		if p.body["require_user"] != true || p.num("max_seats_per_user") != 1 {
			t.Fatalf("patch = %s", p.raw)
		}
		a.expect(acquireAs(key, "", "ws-2", nil), 401, "user_required")
		a.expect(a.admin("PATCH", base+"/licenses/"+id, map[string]any{"require_user": false, "max_seats_per_user": nil}), 200, "")
		a.expect(acquireAs(key, "", "ws-2", nil), 200, "")
		for _, body := range []any{map[string]any{"leasing": "per_moon"}, map[string]any{"max_seats_per_user": 0},
			map[string]any{"require_user": "yes"}, map[string]any{"require_user": nil}} {
			a.expect(a.admin("PATCH", base+"/licenses/"+id, body), 400, "invalid_request")
		}
	})
}

func TestWorkstations(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	base := "/v1/tenants/" + tenant
	_, key := a.license(tenant, map[string]any{"seats": 5})
	_, key2 := a.license(tenant, map[string]any{"seats": 5})
	sid := a.expect(a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": "fp-1",
		"hostname": "laptop", "os": "linux", "user": "ada"}), 200, "").str("session_id")

	var ws map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for ws == nil {
		r := a.expect(a.admin("GET", base+"/workstations", nil), 200, "")
		if list, _ := r.body["workstations"].([]any); len(list) == 1 {
			ws = list[0].(map[string]any)
		} else if time.Now().After(deadline) {
			t.Fatalf("the workstation was not recorded: %s", r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ws["fingerprint"] != "fp-1" || ws["hostname"] != "laptop" || ws["os"] != "linux" || ws["last_user"] != "ada" ||
		ws["blocked"] != false || ws["last_seen_at"] == nil {
		t.Fatalf("workstation = %v", ws)
	}
	one := a.expect(a.admin("GET", base+"/workstations/"+ws["id"].(string), nil), 200, "")
	if sessions, _ := one.body["sessions"].([]any); len(sessions) != 1 || !strings.Contains(one.raw, tokens.SessionDigest(sid)) ||
		strings.Contains(one.raw, sid) {
		t.Fatalf("workstation sessions = %s", one.raw)
	}
	blocked := a.expect(a.admin("PATCH", base+"/workstations/"+ws["id"].(string), map[string]any{"blocked": true}), 200, "")
	if blocked.body["blocked"] != true {
		t.Fatalf("patch = %s", blocked.raw)
	}
	for _, k := range []string{key, key2} {
		a.expect(a.acquire(k, "fp-1"), 403, "workstation_blocked")
	}
	a.expect(a.acquire(key, "fp-2"), 200, "")
	// A license created after the block knows it too.
	_, key3 := a.license(tenant, nil)
	a.expect(a.acquire(key3, "fp-1"), 403, "workstation_blocked")
	a.expect(a.admin("PATCH", base+"/workstations/"+ws["id"].(string), map[string]any{"blocked": false}), 200, "")
	a.expect(a.acquire(key2, "fp-1"), 200, "")
	for _, body := range []any{map[string]any{}, map[string]any{"blocked": "yes"}, map[string]any{"hostname": "x"}} {
		a.expect(a.admin("PATCH", base+"/workstations/"+ws["id"].(string), body), 400, "invalid_request")
	}
	a.expect(a.admin("GET", base+"/workstations/00000000-0000-4000-8000-000000000000", nil), 404, "workstation_not_found")
}

func TestRepositories(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	base := "/v1/tenants/" + tenant + "/repositories"
	c := a.expect(a.admin("POST", base, map[string]any{"name": "widget", "remote_url": "git@github.com:Acme/Widget.git",
		"provider": "github", "default_branch": "main"}), 201, "")
	id := c.str("id")
	if c.str("remote_url") != "github.com/Acme/Widget" || c.str("provider") != "github" || c.str("default_branch") != "main" {
		t.Fatalf("create = %s", c.raw)
	}
	// The https form of the same remote is the same repository.
	a.expect(a.admin("POST", base, map[string]any{"name": "dup", "remote_url": "https://github.com/Acme/Widget"}), 409, "remote_taken")
	for _, body := range []any{map[string]any{"name": "x"}, map[string]any{"name": "x", "remote_url": "not a remote"},
		map[string]any{"name": "", "remote_url": "https://h/x"}, map[string]any{"name": "x", "remote_url": "git@h:a\u0007b"}, map[string]any{"name": "x", "remote_url": "https://h/x", "id": "y"}} {
		a.expect(a.admin("POST", base, body), 400, "invalid_request")
	}
	p := a.expect(a.admin("PATCH", base+"/"+id, map[string]any{"default_branch": "trunk"}), 200, "")
	if p.str("default_branch") != "trunk" || p.str("name") != "widget" {
		t.Fatalf("patch = %s", p.raw)
	}
	a.expect(a.admin("PATCH", base+"/"+id, map[string]any{}), 400, "invalid_request")
	a.expect(a.admin("GET", base+"/"+id, nil), 200, "")
	if l := a.expect(a.admin("GET", base, nil), 200, ""); !strings.Contains(l.raw, id) {
		t.Fatalf("list = %s", l.raw)
	}
	// Acquire records the repository, normalised.
	licenseID, key := a.license(tenant, nil)
	a.expect(a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": "ws",
		"repository": "ssh://git@GitHub.com/Acme/Widget.git"}), 200, "")
	s := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID+"/sessions", nil), 200, "")
	if !strings.Contains(s.raw, `"repository":"github.com/Acme/Widget"`) {
		t.Fatalf("sessions = %s", s.raw)
	}
	a.expect(a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": "ws2", "repository": "nope"}), 400, "invalid_request")
	if r := a.admin("DELETE", base+"/"+id, nil); r.status != 204 {
		t.Fatalf("delete = %d", r.status)
	}
	a.expect(a.admin("GET", base+"/"+id, nil), 404, "repository_not_found")
	// Its remote is free again.
	a.expect(a.admin("POST", base, map[string]any{"name": "again", "remote_url": "https://github.com/Acme/Widget"}), 201, "")
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	id, _ := a.license(tenant, map[string]any{"seats": 2})
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/licenses/"+id, map[string]any{"seats": 3}), 200, "")
	a.admin("DELETE", "/v1/tenants/"+tenant+"/licenses/"+id, nil)
	r := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/audit", nil), 200, "")
	entries, _ := r.body["entries"].([]any)
	var actions []string
	for _, e := range entries {
		m := e.(map[string]any)
		actions = append(actions, m["action"].(string))
		if m["actor"] != "bootstrap" || m["at"] == nil {
			t.Fatalf("entry = %v", m)
		}
	}
	if strings.Join(actions, ",") != "license.delete,license.update,license.create,tenant.create" {
		t.Fatalf("actions (newest first) = %v", actions)
	}
	update := entries[1].(map[string]any)
	before, after := update["before"].(map[string]any), update["after"].(map[string]any)
	if before["seats"] != float64(2) || after["seats"] != float64(3) {
		t.Fatalf("update before/after = %v / %v", before, after)
	}
	if strings.Contains(r.raw, "key_hash") {
		t.Fatal("the audit log holds a key hash")
	}
	// Acquires are not admin changes, and leave no audit entries.
	_, key := a.license(tenant, nil)
	n := len(entries) + 1
	a.expect(a.acquire(key, "ws"), 200, "")
	time.Sleep(700 * time.Millisecond) // the workstation recorder flushes every 500ms
	r = a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/audit?limit=200", nil), 200, "")
	if got, _ := r.body["entries"].([]any); len(got) != n {
		t.Fatalf("%d entries after an acquire, want %d", len(got), n)
	}
	// The workstation it recorded has a time-ordered id (UUIDv7, for the
	// index), and blocking it is an admin change.
	r = a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/workstations", nil), 200, "")
	list, _ := r.body["workstations"].([]any)
	if len(list) != 1 {
		t.Fatalf("workstations = %s", r.raw)
	}
	ws := list[0].(map[string]any)["id"].(string)
	if len(ws) != 36 || ws[14] != '7' || !strings.ContainsRune("89ab", rune(ws[19])) {
		t.Fatalf("workstation id %q is not a UUIDv7", ws)
	}
	a.expect(a.admin("PATCH", "/v1/tenants/"+tenant+"/workstations/"+ws, map[string]any{"blocked": true}), 200, "")
	r = a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/audit?limit=200", nil), 200, "")
	got, _ := r.body["entries"].([]any)
	if len(got) != n+1 || got[0].(map[string]any)["action"] != "workstation.update" {
		t.Fatalf("after blocking the workstation: %s", r.raw)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	var made []string
	for i := range 7 {
		id, _ := a.license(tenant, map[string]any{"product": fmt.Sprint("p", i)})
		made = append(made, id)
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/v1/tenants/" + tenant + "/licenses?limit=3"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := a.expect(a.admin("GET", path, nil), 200, "")
		for _, l := range r.body["licenses"].([]any) {
			seen = append(seen, l.(map[string]any)["id"].(string))
		}
		next, _ := r.body["next_cursor"].(string)
		if next == "" {
			if pages != 2 {
				t.Fatalf("%d pages of 3 for 7 licenses", pages+1)
			}
			break
		}
		cursor = next
	}
	if strings.Join(seen, ",") != strings.Join(made, ",") {
		t.Fatalf("pages gave %v, want %v in creation order", seen, made)
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=bogus", "cursor=eyJ0IjoxfQ"} {
		a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses?"+q, nil), 400, "invalid_request")
		a.expect(a.admin("GET", "/v1/tenants?"+q, nil), 400, "invalid_request")
	}
	a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/audit?cursor=bogus", nil), 400, "invalid_request")
}
