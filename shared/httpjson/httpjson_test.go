package httpjson

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

type sample struct {
	Name  string          `json:"name"`
	Count int             `json:"count"`
	When  Field[int]      `json:"when"`
	Tags  []string        `json:"tags"`
	Inner struct{ A int } `json:"inner"`
}

func decode(body, contentType string) (sample, error) {
	var s sample
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return s, Decode(httptest.NewRecorder(), r, &s)
}

func TestDecode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body, ct string
		status   int
		message  string
	}{
		{`{"name":"a","count":2}`, "application/json", 0, ""},
		{`{"name":"a"}`, "application/json; charset=utf-8", 0, ""},
		{`{}`, "", 415, "Content-Type"},
		{`{}`, "text/json", 415, "Content-Type"},
		{`{}`, "application/json; charset", 415, "Content-Type"},
		{``, "application/json", 400, "empty"},
		{`   `, "application/json", 400, "empty"},
		{`{"name":`, "application/json", 400, "unexpected end"},
		{`{"name" "a"}`, "application/json", 400, "malformed JSON at byte"},
		{`{"count":"2"}`, "application/json", 400, `field "count" must be an integer`},
		{`{"count":1.5}`, "application/json", 400, `field "count"`},
		{`{"count":99999999999999999999}`, "application/json", 400, `field "count"`},
		{`{"tags":{}}`, "application/json", 400, `field "tags" must be an array`},
		{`{"when":"soon"}`, "application/json", 400, `field "when" must be an integer`},
		{`{"inner":5}`, "application/json", 400, `field "inner" must be an object`},
		{`{"nope":1}`, "application/json", 400, `unknown field "nope"`},
		{`[]`, "application/json", 400, "must be a JSON object"},
		{`"x"`, "application/json", 400, "must be a JSON object"},
		{`{} {}`, "application/json", 400, "single JSON object"},
		{"{\"name\":\"\xff\"}", "application/json", 400, "UTF-8"},
		{`{"name":"` + strings.Repeat("a", MaxBody) + `"}`, "application/json", 413, "larger than"},
		{strings.Repeat("[", 100000), "application/json", 413, "larger than"},
		{strings.Repeat("[", 20000), "application/json", 400, ""},
	}
	for _, c := range cases {
		_, err := decode(c.body, c.ct)
		if c.status == 0 {
			if err != nil {
				t.Errorf("Decode(%.40q) = %v", c.body, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Status != c.status || !strings.Contains(e.Message, c.message) {
			t.Errorf("Decode(%.40q, %q) = %v; want %d containing %q", c.body, c.ct, err, c.status, c.message)
		}
	}
}

func TestField(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]Field[int]{
		`{}`:            {},
		`{"when":null}`: {Set: true, Null: true},
		`{"when":7}`:    {Set: true, Value: 7},
	} {
		s, err := decode(body, "application/json")
		if err != nil || s.When != want {
			t.Errorf("%s: %+v, %v; want %+v", body, s.When, err, want)
		}
	}
}

func TestWriteError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{Invalid("bad %s", "thing"), 400, "invalid_request", ""},
		{fmt.Errorf("wrapped: %w", NotFound("license_not_found", "license")), 404, "license_not_found", ""},
		{context.DeadlineExceeded, 503, "unavailable", "1"},
		{fmt.Errorf("redis: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), 503, "unavailable", "1"},
		{syscall.ECONNRESET, 503, "unavailable", "1"},
		{NotInEffect(errors.New("redis down")), 503, "unavailable", "1"},
		{errors.New("secret internal detail"), 500, "internal", ""},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest("GET", "/", nil), c.err)
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.status || body.Error.Code != c.code || w.Header().Get("Retry-After") != c.retryAfter ||
			w.Header().Get("Content-Type") != "application/json" || body.Error.Message == "" {
			t.Errorf("WriteError(%v) = %d %s (Retry-After %q)", c.err, w.Code, w.Body, w.Header().Get("Retry-After"))
		}
		if strings.Contains(w.Body.String(), "detail") || strings.Contains(w.Body.String(), "redis") {
			t.Errorf("internal detail leaked: %s", w.Body)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	if Text("f", "", false, 5) != nil || Text("f", "abc", true, 5) != nil || Text("f", "ünï", true, 10) != nil {
		t.Fatal("valid text rejected")
	}
	for _, v := range []string{"", "toolong", "a\x00", "a\tb", "a\u2028", "\xff"} {
		if Text("f", v, true, 5) == nil {
			t.Errorf("Text(%q) accepted", v)
		}
	}
	if First(nil, Invalid("x"), Invalid("y")).(*Error).Message != "x" || First(nil, nil) != nil {
		t.Fatal("First is wrong")
	}
}

func TestTime(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.FixedZone("X", 3600))
	if got := Time(at); got != "2026-01-02T02:04:05.006Z" {
		t.Fatalf("Time = %s", got)
	}
}
