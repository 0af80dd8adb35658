package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// refusal fails t unless err is an answer for the client: an *Error with a
// 4xx status, a code and a message (what WriteError sends as the envelope).
func refusal(t *testing.T, err error) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
		t.Fatalf("error %#v is not a 4xx *httpjson.Error", err)
	}
	return e
}

// FuzzDecode feeds any body and Content-Type to Decode. It never panics;
// a refusal is a 400, 413 or 415 *Error matching the reason; an accepted
// body is application/json, at most MaxBody bytes, valid UTF-8 and exactly
// one JSON object.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"name":"a","count":2,"when":null,"tags":["x"],"inner":{"A":1}}`, `{}`, `null`,
		`{"name":"a","name":"b"}`, `{"count":1e400}`, `{"count":18446744073709551616}`, "{\"name\":\"\xff\"}",
		"{\"name\":\"a\x00\"}", `{"name":"\u0000"}`, `{"name":"\ud800"}`, strings.Repeat("[", 10000), `{} {}`,
		`{"inner":{"A":{"B":1}}}`, `{"tags":[1]}`, `{"when":"7"}`, `{"NAME":"case"}`} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{}`), "application/json; charset=utf-8")
	f.Add([]byte(`{}`), "text/plain")
	f.Add([]byte(`{}`), "")
	// Cases the seeds above miss.
	f.Add([]byte(`"x"`), "application/json")                    // a JSON value, not an object: no field to name
	f.Add([]byte(`{"name":"a","extra":1}`), "application/json") // an unknown field
	f.Add([]byte("   "), "application/json")                    // only white space: an empty body
	f.Add([]byte(`{}`), "APPLICATION/JSON")                     // media types are case-insensitive
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		var s sample
		err := Decode(httptest.NewRecorder(), r, &s)
		mt, _, ctErr := mime.ParseMediaType(contentType)
		jsonType := ctErr == nil && mt == "application/json"
		if err != nil {
			e := refusal(t, err)
			want := http.StatusBadRequest
			switch {
			case !jsonType:
				want = http.StatusUnsupportedMediaType
			case len(body) > MaxBody:
				want = http.StatusRequestEntityTooLarge
			}
			if e.Status != want {
				t.Fatalf("Decode(%.60q, %q) = %v; want status %d", body, contentType, err, want)
			}
			return
		}
		if !jsonType || len(body) > MaxBody || !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("Decode accepted %.60q as %q", body, contentType)
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) != nil {
			t.Fatalf("Decode accepted %.60q, which is not one JSON object", body)
		}
	})
}

// textOK is the documented rule for a string field, written independently
// of Text: empty only when optional; otherwise at most max bytes of valid
// UTF-8 with no control characters or line/paragraph separators.
func textOK(v string, required bool, max int) bool {
	if v == "" {
		return !required
	}
	if len(v) > max || !utf8.ValidString(v) {
		return false
	}
	return !strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == 0x2028 || r == 0x2029 })
}

// FuzzText checks Text against the documented rule: it accepts exactly the
// strings textOK accepts, and a refusal is a 400 invalid_request naming the
// field.
func FuzzText(f *testing.F) {
	for _, v := range []string{"", "a", "ünï", "a\x00b", "a\tb", "a\u2028", "\xff", "\xed\xa0\x80", "'; DROP TABLE tenants;--",
		`"]])redis.call('FLUSHALL')--`, "%s%n", "\u0085", "\u200b", strings.Repeat("é", 100)} {
		f.Add("f", v, true, 5)
		f.Add("name", v, false, 200)
	}
	f.Add("f", "abc", true, -1)   // a negative maximum refuses every value
	f.Add("f\"\x00", "", true, 0) // a field name the message must quote and escape
	f.Fuzz(func(t *testing.T, field, v string, required bool, max int) {
		err := Text(field, v, required, max)
		if ok := textOK(v, required, max); ok != (err == nil) {
			t.Fatalf("Text(%q, %q, %v, %d) = %v; rule says ok=%v", field, v, required, max, err, ok)
		}
		if err != nil {
			if e := refusal(t, err); e.Status != http.StatusBadRequest || e.Code != "invalid_request" ||
				!strings.Contains(e.Message, strconvQuote(field)) {
				t.Fatalf("Text refusal %v does not name field %q", e, field)
			}
		}
	})
}

// strconvQuote is how messages name a field (%q).
func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// TestDecodeRefusesDuplicateNames: a name twice in one object, also when
// it differs only in case (encoding/json would match both to one field and
// keep the last), is a 400; equal names in different objects, or a value
// equal to a name, are not duplicates.
func TestDecodeRefusesDuplicateNames(t *testing.T) {
	t.Parallel()
	for body, refused := range map[string]bool{
		`{"name":"a","name":"b"}`:                true,
		`{"name":"a","NAME":"b"}`:                true,
		`{"inner":{"A":1,"a":2}}`:                true,
		`{"name":"a","count":1,"name":"a"}`:      true,
		`{"inner":{"A":1},"name":"A"}`:           false,
		`{"tags":["name","name"],"name":"name"}`: false,
		`{"inner":{"A":1},"when":1}`:             false,
	} {
		_, err := decode(body, "application/json")
		if refused {
			if e := refusal(t, err); e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "more than once") {
				t.Errorf("Decode(%s) = %v; want a 400 naming the duplicate", body, err)
			}
		} else if err != nil {
			t.Errorf("Decode(%s) = %v", body, err)
		}
	}
}

// duplicateKeyReference is duplicateKey written the slow, obvious way, on
// encoding/json's tokenizer and strings.EqualFold: the oracle the fuzzer
// compares the scanner with.
func duplicateKeyReference(body []byte) (string, bool) {
	type frame struct {
		names   []string // nil for an array
		object  bool
		wantKey bool
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			top := &stack[n-1]
			if top.wantKey {
				name := tok.(string)
				for _, seen := range top.names {
					if strings.EqualFold(seen, name) {
						return name, true
					}
				}
				top.names = append(top.names, name)
				top.wantKey = false
				continue
			}
			top.wantKey = true
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, wantKey: true})
		case json.Delim('['):
			stack = append(stack, frame{})
		}
	}
}

// FuzzDuplicateKey: on any valid JSON the scanner finds the same first
// duplicate name as the reference (or none), so Decode refuses exactly the
// bodies with a name twice in one object.
func FuzzDuplicateKey(f *testing.F) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":1,"A":2}`, `{"k":1,"\u212a":2}`, `{"s":1,"\u017f":2}`, `{"a\"b":1,"A\"B":2}`,
		`{"a":{"b":1,"b":2}}`, `[{"a":1},{"a":1}]`, `{"a":"a","b":["a","a"],"c":{"a":{"a":1}}}`, `"x"`, `[1,"a",{"a":[{}]}]`,
		`{"\u00e9":1,"\u00c9":2}`, `{"\ud801\udc00":1,"\ud801\udc28":2}`, `{"a\\":1,"A\\":2}`, `{"":1,"":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		name, dup := duplicateKey(body)
		wantName, wantDup := duplicateKeyReference(body)
		if name != wantName || dup != wantDup {
			t.Fatalf("duplicateKey(%q) = %q, %v; reference %q, %v", body, name, dup, wantName, wantDup)
		}
	})
}
