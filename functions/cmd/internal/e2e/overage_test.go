package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/lease"
)

// TestOverageOverHTTP: the platform sets a license's overage policy (a
// tenant admin may not: a commercial term); an acquire beyond the seats is
// granted with seat_class overage and a lease saying so; when the entitled
// seat frees, the overage session becomes entitled (its heartbeat and lease
// say so); after the drain the usage report shows the overage seat-hours
// and peak, and the outbox holds license.overage_entered then
// license.overage_exited, once each.
func TestOverageOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("overage")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1, "lease_ttl_seconds": 60})
	path := "/v1/tenants/" + tenant + "/licenses/" + licenseID
	if got := a.expect(a.admin("GET", path, nil), 200, ""); got.body["overage"].(map[string]any)["mode"] != "none" {
		t.Fatalf("a new license's overage = %s, want mode none", got.raw)
	}

	// A tenant admin may not set it; bad policies are 400 for the platform.
	tenantAdmin := a.expect(a.admin("POST", "/v1/tenants/"+tenant+"/api-keys",
		map[string]any{"name": "ops", "role": "admin"}), 201, "").str("key")
	a.expect(a.call("PATCH", path, tenantAdmin, map[string]any{"overage": map[string]any{"mode": "unlimited"}}), 403, "forbidden")
	for _, bad := range []any{nil, "percent", map[string]any{"mode": "percent"}, map[string]any{"mode": "percent", "value": 1001},
		map[string]any{"mode": "absolute", "value": 0}, map[string]any{"mode": "unlimited", "value": 3},
		map[string]any{"mode": "lots", "value": 1}, map[string]any{"mode": "absolute", "value": 1, "cap": 2}} {
		a.expect(a.admin("PATCH", path, map[string]any{"overage": bad}), 400, "invalid_request")
	}
	a.expect(a.acquire(key, "ws-a"), 200, "")
	a.expect(a.acquire(key, "ws-b"), 409, "no_seats_available")
	set := a.expect(a.admin("PATCH", path, map[string]any{"overage": map[string]any{"mode": "absolute", "value": 1}}), 200, "")
	if o := set.body["overage"].(map[string]any); o["mode"] != "absolute" || o["value"] != float64(1) {
		t.Fatalf("PATCH answer overage = %v", o)
	}

	v, err := lease.VerifierFromKeys(a.keysDoc(), testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	first := a.expect(a.acquire(key, "ws-a"), 200, "")
	if first.body["resumed"] != true || first.str("seat_class") != "entitled" {
		t.Fatalf("ws-a again = %s, want resumed, entitled", first.raw)
	}
	over := a.expect(a.acquire(key, "ws-b"), 200, "")
	if over.str("seat_class") != "overage" || over.num("seats_total") != 1 || over.num("seats_used") != 2 {
		t.Fatalf("beyond the seats = %s, want seat_class overage (2 used of 1)", over.raw)
	}
	if c, err := v.Verify(over.str("lease"), time.Now()); err != nil || !c.Overage {
		t.Fatalf("the overage grant's lease = %+v, %v; want overage true", c, err)
	}
	if c, err := v.Verify(first.str("lease"), time.Now()); err != nil || c.Overage {
		t.Fatalf("the entitled grant's lease = %+v, %v; want no overage", c, err)
	}
	a.expect(a.acquire(key, "ws-c"), 409, "no_seats_available")
	// The sessions view (as the console shows it) gives each one's class.
	classes := map[string]string{}
	list, _ := a.expect(a.admin("GET", path+"/sessions", nil), 200, "").body["sessions"].([]any)
	for _, s := range list {
		m, _ := s.(map[string]any)
		fp, _ := m["fingerprint"].(string)
		classes[fp], _ = m["seat_class"].(string)
	}
	if fmt.Sprint(classes) != fmt.Sprint(map[string]string{"ws-a": "entitled", "ws-b": "overage"}) {
		t.Fatalf("the sessions view's classes = %v, want ws-a entitled and ws-b overage", classes)
	}
	hb := a.expect(a.heartbeat(over.str("session_id")), 200, "")
	if hb.str("seat_class") != "overage" {
		t.Fatalf("overage heartbeat = %s", hb.raw)
	}
	time.Sleep(1500 * time.Millisecond)
	a.expect(a.release(first.str("session_id")), 200, "")
	hb = a.expect(a.heartbeat(over.str("session_id")), 200, "")
	if c, err := v.Verify(hb.str("lease"), time.Now()); hb.str("seat_class") != "entitled" || err != nil || c.Overage {
		t.Fatalf("after the entitled seat freed: %s (lease %+v, %v); want entitled", hb.raw, c, err)
	}
	a.expect(a.release(over.str("session_id")), 200, "")

	// The ledger: the overage part is the acquire to the reclassification.
	began, ended := a.overageSpan(licenseID)
	if d := ended.Sub(began); d < 1400*time.Millisecond || d > 10*time.Second {
		t.Fatalf("overage from %v to %v", began, ended)
	}
	from := began.UTC().Truncate(time.Hour)
	q := url.Values{"group_by": {"license"}, "granularity": {"hour"},
		"from": {from.Format(time.RFC3339)}, "to": {from.Add(2 * time.Hour).Format(time.RFC3339)}}
	rep := a.expect(a.admin("GET", "/v1/tenants/"+tenant+"/usage?"+q.Encode(), nil), 200, "")
	var hours float64
	peak := 0
	for _, b := range rep.body["buckets"].([]any) {
		row := b.(map[string]any)
		hours += row["overage_seat_hours"].(float64)
		peak = max(peak, int(row["peak_overage"].(float64)))
		if row["overage_seat_hours"].(float64) > row["seat_hours"].(float64) {
			t.Fatalf("bucket %v: more overage than seat-hours", row)
		}
	}
	if want := ended.Sub(began).Hours(); math.Abs(hours-want) > 2e-6 || peak != 1 {
		t.Fatalf("report %s: overage_seat_hours %v (want %v), peak_overage %d (want 1)", rep.raw, hours, want, peak)
	}

	// The edges, derived once from the drained ledger; draining again adds
	// nothing.
	if _, err := a.b.Cleaner.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	edges := a.overageEvents(tenant)
	if len(edges) != 2 || edges[0].typ != "license.overage_entered" || edges[1].typ != "license.overage_exited" {
		t.Fatalf("overage events = %+v, want entered then exited", edges)
	}
	for _, e := range edges {
		if e.payload["license"].(map[string]any)["id"] != licenseID || e.payload["seats"] != float64(1) ||
			e.payload["allowance"] != float64(2) || e.payload["at"] == nil {
			t.Fatalf("%s payload = %v", e.typ, e.payload)
		}
	}
}

// overageSpan drains the ledger and returns when the license's overage
// session was granted and when it was reclassified.
func (a *api) overageSpan(licenseID string) (time.Time, time.Time) {
	a.t.Helper()
	ctx := context.Background()
	if _, err := a.b.Cleaner.Run(ctx); err != nil {
		a.t.Fatalf("cleanup run: %v", err)
	}
	var began, until time.Time
	err := a.b.DB.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT started_at, overage_until FROM usage_sessions
			WHERE license_id = $1 AND overage`, licenseID).Scan(&began, &until)
	})
	if err != nil {
		a.t.Fatalf("reading the overage interval: %v", err)
	}
	return began, until
}

type outboxRow struct {
	typ     string
	payload map[string]any
}

// overageEvents are a tenant's license.overage_* outbox events in the
// order they happened (one drain stores both, in one transaction, so their
// created_at ties).
func (a *api) overageEvents(tenant string) []outboxRow {
	a.t.Helper()
	var out []outboxRow
	err := a.b.DB.Tx(context.Background(), database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT type, payload FROM outbox_events
			WHERE tenant_id = $1 AND type LIKE 'license.overage_%' ORDER BY (payload ->> 'at')::timestamptz, type`, tenant)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (outboxRow, error) {
			var o outboxRow
			var raw []byte
			if err := r.Scan(&o.typ, &raw); err != nil {
				return o, err
			}
			return o, json.Unmarshal(raw, &o.payload)
		})
		return err
	})
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}
