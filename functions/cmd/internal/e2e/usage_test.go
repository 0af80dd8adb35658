package e2e_test

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// TestUsageOverHTTP drives seats through the API, drains the ledger as the
// cleanup function would, and reads the report an admin sees.
func TestUsageOverHTTP(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	tenant := a.tenant("acme")
	licenseID, key := a.license(tenant, map[string]any{"seats": 1})
	sid := a.expect(a.acquire(key, "ws-1"), 200, "").str("session_id")
	a.expect(a.acquire(key, "ws-2"), 409, "no_seats_available")
	a.expect(a.release(sid), 200, "")
	if res, err := a.b.Cleaner.Run(context.Background()); err != nil || res.Drained != 3 {
		t.Fatalf("drain = %+v, %v", res, err)
	}

	base := "/v1/tenants/" + tenant + "/usage"
	r := a.expect(a.admin("GET", base, nil), 200, "")
	buckets, _ := r.body["buckets"].([]any)
	if len(buckets) != 1 || r.str("group_by") != "license" || r.str("granularity") != "day" {
		t.Fatalf("report = %s", r.raw)
	}
	b := buckets[0].(map[string]any)
	day := time.Now().UTC().Truncate(24 * time.Hour).Format("2006-01-02T15:04:05.000Z")
	if b["key"] != licenseID || b["start"] != day || b["peak_seats"] != 1.0 || b["denials"] != 1.0 {
		t.Fatalf("bucket = %v", b)
	}
	// The default range is the week up to the end of today.
	if to := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); r.str("to") != to.Format("2006-01-02T15:04:05.000Z") ||
		r.str("from") != to.Add(-7*24*time.Hour).Format("2006-01-02T15:04:05.000Z") {
		t.Fatalf("default range %s .. %s", r.str("from"), r.str("to"))
	}
	r = a.expect(a.admin("GET", base+"?group_by=workstation&granularity=hour", nil), 200, "")
	if n := len(r.body["buckets"].([]any)); n < 2 { // ws-1 held a seat, ws-2 was denied one
		t.Fatalf("by workstation: %s", r.raw)
	}

	now := time.Now().UTC()
	for name, q := range map[string]url.Values{
		"unknown group":       {"group_by": {"tenant"}},
		"unknown granularity": {"granularity": {"minute"}},
		"bad from":            {"from": {"yesterday"}},
		"bad to":              {"to": {"2026-13-01T00:00:00Z"}},
		"to before from":      {"from": {now.Format(time.RFC3339)}, "to": {now.Add(-time.Hour).Format(time.RFC3339)}},
		"empty range":         {"from": {now.Format(time.RFC3339)}, "to": {now.Format(time.RFC3339)}},
		"too many hours":      {"granularity": {"hour"}, "from": {now.Add(-32 * 24 * time.Hour).Format(time.RFC3339)}},
		"too many days":       {"from": {now.Add(-400 * 24 * time.Hour).Format(time.RFC3339)}},
		"year 1":              {"from": {"0001-01-01T00:00:00Z"}},
	} {
		t.Run(name, func(t *testing.T) {
			b := *a
			b.t = t
			b.expect(b.admin("GET", base+"?"+q.Encode(), nil), 400, "invalid_request")
		})
	}
}
