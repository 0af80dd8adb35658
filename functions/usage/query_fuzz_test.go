package usage

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzParseQuery feeds any query string to the report's parameter parser.
// It never panics; a refusal is a 4xx *httpjson.Error; an accepted query
// has a known grouping and granularity, and a UTC range with to after from
// that spans at most the allowed number of buckets.
func FuzzParseQuery(f *testing.F) {
	for _, q := range []string{"", "group_by=user&granularity=hour", "group_by=repository", "group_by=workstation&granularity=day",
		"from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z", "from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z",
		"from=1999-01-01T00:00:00Z", "to=9999-12-31T23:59:59.999999999Z", "to=10000-01-01T00:00:00Z", "from=0001-01-01T00:00:00Z&to=9999-01-01T00:00:00Z",
		"to=2026-11-01T00:00:00%2B14:00", "to=2026-11-01T00:00:00-23:59", "group_by=license'; DROP TABLE usage;--",
		"group_by=%00", "granularity=minute", "granularity=hour&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
		"from=2026-11-01", "to=now", "group_by=user&group_by=license", "%zz=1", "to=2000-01-01T00:00:00Z"} {
		f.Add(q)
	}
	now := time.Date(2026, 11, 26, 1, 2, 3, 0, time.UTC)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		q, err := parseQuery(&http.Request{URL: &url.URL{Path: "/", RawQuery: rawQuery}}, now)
		if httpjsontest.Refused(t, "parseQuery", rawQuery, err) {
			return
		}
		groups := map[string]bool{"license": true, "user": true, "workstation": true, "repository": true}
		size := map[string]time.Duration{"hour": time.Hour, "day": 24 * time.Hour}[q.Granularity]
		if !groups[q.GroupBy] || size == 0 || q.From.Location() != time.UTC || q.To.Location() != time.UTC ||
			!q.To.After(q.From) || q.To.Sub(q.From) > size*time.Duration(maxBuckets(q.Granularity)) {
			t.Fatalf("parseQuery(%q) accepted %+v", rawQuery, q)
		}
	})
}
