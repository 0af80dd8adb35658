package e2e_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
)

// TestSharedSeatOverHTTPAndSDK is the bug the shared seat fixes, as a user
// meets it: two copies of a tool on one workstation (two Go SDK seats, each
// its own holder) hold the license's only seat; one exits, and the other
// keeps its seat, with no "session not found" and no new session, while a
// third workstation still waits; the seat frees when the last copy exits.
// The ledger sees one session, released once.
func TestSharedSeatOverHTTPAndSDK(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("shared")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 3})

	first := a.sdkSeat(key, "ws-shared")
	second := a.sdkSeat(key, "ws-shared")
	if first.Status().SessionID != second.Status().SessionID {
		t.Fatal("two processes of one workstation got two sessions")
	}
	a.expect(a.acquire(key, "ws-other"), 409, "no_seats_available")
	sessions := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID+"/sessions", nil), 200, "")
	if n := holders(t, sessions); n != 2 {
		t.Fatalf("the sessions view shows %d holders, want 2: %s", n, sessions.raw)
	}

	sid := second.Status().SessionID
	if err := first.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Over three heartbeat intervals (one second each): the remaining
	// process heartbeats on in the same session, and the seat stays taken.
	for range 3 {
		time.Sleep(time.Second)
		st := second.Status()
		if !st.Valid || st.SessionID != sid || st.LastError != nil {
			t.Fatalf("the remaining process after the other closed: %+v", st)
		}
		a.expect(a.acquire(key, "ws-other"), 409, "no_seats_available")
	}
	sessions = a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/licenses/"+licenseID+"/sessions", nil), 200, "")
	if n := holders(t, sessions); n != 1 {
		t.Fatalf("the sessions view shows %d holders after one closed, want 1: %s", n, sessions.raw)
	}

	if err := second.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.expect(a.acquire(key, "ws-other"), 200, "")
	var released int
	for _, row := range a.ledger(licenseID) {
		if row.kind == "released" {
			released++
		}
	}
	if released != 1 {
		t.Fatalf("released events = %d, want the shared seat's once", released)
	}
}

// TestMaxInstancesPerSeatPolicy: a tenant's admin sets and clears the
// policy; it is written through to the seats at once, bad values are 400,
// and a change of it alone is license.updated naming it.
func TestMaxInstancesPerSeatPolicy(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("instances")
	licenseID, key := a.license(tenant, map[string]any{"seats": 2})
	lic := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	if r := a.expect(a.admin("GET", lic, nil), 200, ""); r.body["max_instances_per_seat"] != nil {
		t.Fatalf("a new license's max_instances_per_seat = %v, want null", r.body["max_instances_per_seat"])
	}
	for _, bad := range []any{0, 257, "2", 1.5} {
		a.expect(a.admin("PATCH", lic, map[string]any{"max_instances_per_seat": bad}), 400, "invalid_request")
		a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/licenses",
			map[string]any{"product": "p", "seats": 1, "max_instances_per_seat": bad}), 400, "invalid_request")
	}
	if r := a.expect(a.admin("PATCH", lic, map[string]any{"max_instances_per_seat": 1}), 200, ""); r.num("max_instances_per_seat") != 1 {
		t.Fatalf("patch = %s", r.raw)
	}
	as := func(instance string) reply {
		return a.call("POST", "/v1/acquire", "", map[string]any{"license_key": key, "fingerprint": "ws", "instance_id": instance})
	}
	a.expect(as("p1"), 200, "")
	over := a.expect(as("p2"), 409, "instance_limit")
	if over.num("instances") != 1 || over.num("max_instances_per_seat") != 1 {
		t.Fatalf("409 = %s", over.raw)
	}
	for _, bad := range []string{"*", "-x", "has space", string(make([]byte, 65))} {
		a.expect(as(bad), 400, "invalid_request")
	}
	a.expect(a.admin("PATCH", lic, map[string]any{"max_instances_per_seat": nil}), 200, "")
	a.expect(as("p2"), 200, "")

	changed := licenseUpdates(t, a, tenant)
	if len(changed) != 2 || len(changed[0]) != 1 || changed[0][0] != "max_instances_per_seat" ||
		len(changed[1]) != 1 || changed[1][0] != "max_instances_per_seat" {
		t.Fatalf("license.updated events changed %v, want max_instances_per_seat twice", changed)
	}
}

// TestLingerAndRevivePolicies: a tenant's admin sets linger_seconds and
// revive_seconds (0, the default, is off); each is written through to the
// license's metadata in Redis (lg, rv) at once, a bad value (out of range,
// null, not an integer) is 400 and changes nothing, and a change of either
// alone is license.updated naming it. What the seat scripts do with them is
// theirs to test.
func TestLingerAndRevivePolicies(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("resume")
	licenseID, _ := a.license(tenant, map[string]any{"seats": 1})
	lic := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	meta := func() map[string]string {
		t.Helper()
		m, err := a.b.Redis.HGetAll(context.Background(), a.prefix+"{"+licenseID+"}:m").Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, f := range []struct {
		field, meta string
		max         int
	}{{"linger_seconds", "lg", 86400}, {"revive_seconds", "rv", 900}} {
		is := func(want int) {
			t.Helper()
			r := a.expect(a.admin("GET", lic, nil), 200, "")
			if _, ok := r.body[f.field]; !ok || r.num(f.field) != want {
				t.Fatalf("%s = %v, want %d: %s", f.field, r.body[f.field], want, r.raw)
			}
			if got := meta()[f.meta]; got != strconv.Itoa(want) {
				t.Fatalf("metadata %s = %q in Redis, want %d", f.meta, got, want)
			}
		}
		is(0)
		for _, bad := range []any{-1, f.max + 1, nil, "60", 1.5} {
			a.expect(a.admin("PATCH", lic, map[string]any{f.field: bad}), 400, "invalid_request")
			a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/licenses",
				map[string]any{"product": "p", "seats": 1, f.field: bad}), 400, "invalid_request")
		}
		is(0)
		if r := a.expect(a.admin("PATCH", lic, map[string]any{f.field: f.max}), 200, ""); r.num(f.field) != f.max {
			t.Fatalf("patch = %s", r.raw)
		}
		is(f.max)
		a.expect(a.admin("PATCH", lic, map[string]any{f.field: 0}), 200, "")
		is(0)
	}
	created := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/licenses",
		map[string]any{"product": "p", "seats": 1, "linger_seconds": 300, "revive_seconds": 60}), 201, "")
	if created.num("linger_seconds") != 300 || created.num("revive_seconds") != 60 {
		t.Fatalf("create = %s", created.raw)
	}

	changed := licenseUpdates(t, a, tenant)
	want := [][]string{{"linger_seconds"}, {"linger_seconds"}, {"revive_seconds"}, {"revive_seconds"}}
	if !slices.EqualFunc(changed, want, slices.Equal) {
		t.Fatalf("license.updated events changed %v, want %v", changed, want)
	}
}

// licenseUpdates is what each license.updated event of a tenant names as
// changed, oldest first.
func licenseUpdates(t *testing.T, a *api, tenant string) [][]string {
	t.Helper()
	var changed [][]string
	err := a.b.DB.Tx(context.Background(), database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT payload -> 'changed' FROM outbox_events
			WHERE tenant_id = $1 AND type = 'license.updated' ORDER BY created_at`, tenant)
		if err != nil {
			return err
		}
		changed, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
			var raw []byte
			var out []string
			if err := r.Scan(&raw); err != nil {
				return nil, err
			}
			return out, json.Unmarshal(raw, &out)
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return changed
}

// holders counts the holders of the sessions a sessions listing shows.
func holders(t *testing.T, r reply) int {
	t.Helper()
	list, _ := r.body["sessions"].([]any)
	n := 0
	for _, s := range list {
		h, ok := s.(map[string]any)["holders"].([]any)
		if !ok {
			t.Fatalf("a session without holders: %s", r.raw)
		}
		n += len(h)
	}
	return n
}
