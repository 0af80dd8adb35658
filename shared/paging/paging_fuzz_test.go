package paging

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// refusal fails t unless err is a 400 invalid_request with a message (what
// httpjson.WriteError sends as the envelope).
func refusal(t *testing.T, err error) {
	t.Helper()
	var e *httpjson.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != "invalid_request" || e.Message == "" {
		t.Fatalf("error %#v is not a 400 invalid_request", err)
	}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// FuzzPage feeds any query string to Page (the ?limit=&cursor= of every
// list, audit included) and UUIDCursor (the lists keyed by UUID). A refusal
// is a 400; an accepted page has a limit in 1..MaxPageSize and, when it has
// a cursor, one naming a time and a row; UUIDCursor passes it only when
// that row id is a UUID (any other would reach SQL as a uuid parameter).
func FuzzPage(f *testing.F) {
	good := database.Cursor{At: mustTime("2026-01-02T03:04:05.006Z"), ID: "00000000-0000-4000-8000-000000000000"}.Encode()
	for _, q := range []string{"", "limit=1", "limit=200", "limit=201", "limit=0", "limit=-1", "limit=1e3",
		"limit=99999999999999999999", "limit=%00", "cursor=" + good, "cursor=" + good + "A", "cursor=%ff",
		"limit=5&limit=6", "cursor=e30", "limit= 5", "limit=+5", "limit=0x10"} {
		f.Add(q)
	}
	// A well-formed cursor naming a row id that is no UUID: it reached SQL
	// as a uuid parameter, a 500, until UUIDCursor (088dd54).
	f.Add("cursor=" + database.Cursor{At: mustTime("2026-01-01T00:00:00Z"), ID: "x'; DROP TABLE tenants;--"}.Encode())
	// A cursor longer than any this API gives out is refused unread.
	f.Add("cursor=" + strings.Repeat("A", 201))
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := &http.Request{URL: &url.URL{Path: "/", RawQuery: rawQuery}}
		p, err := Page(r)
		if err != nil {
			refusal(t, err)
			return
		}
		if p.Limit < 1 || p.Limit > database.MaxPageSize {
			t.Fatalf("Page(%q) limit %d", rawQuery, p.Limit)
		}
		if p.After != nil && (p.After.At.IsZero() || p.After.ID == "") {
			t.Fatalf("Page(%q) accepted cursor %+v", rawQuery, *p.After)
		}
		err = UUIDCursor(p)
		if ok := p.After == nil || tokens.ValidUUID(p.After.ID); ok != (err == nil) {
			t.Fatalf("UUIDCursor(%+v) = %v", p.After, err)
		}
		if err != nil {
			refusal(t, err)
		}
	})
}
