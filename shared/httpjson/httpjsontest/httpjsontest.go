// Package httpjsontest holds what the fuzz tests of every request decoder
// share: a request carrying the fuzzed body, and the check that a refusal is
// a client error in the API's envelope; and the check that an answer
// encoding itself matches json.Marshal.
package httpjsontest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/jsonappend"
)

// Request is a request to path carrying body as JSON.
func Request(method, path string, body []byte) *http.Request {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	return r
}

// Refused reports whether err refused input. It fails t unless a refusal is
// a 4xx *httpjson.Error with a code and a message; call names what decoded.
func Refused(t testing.TB, call string, input any, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	var e *httpjson.Error
	if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
		t.Fatalf("%s(%.80q) = %#v; want a 4xx *httpjson.Error", call, input, err)
	}
	return true
}

// EncodesAsMarshal fails t unless v's own encoding is byte for byte what
// json.Marshal makes of it: the struct tags stay the reference for the
// answers that encode themselves.
func EncodesAsMarshal(t testing.TB, v jsonappend.Appender) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.AppendJSON(nil); !bytes.Equal(got, want) {
		t.Errorf("AppendJSON of %+v:\n got %s\nwant %s", v, got, want)
	}
}
