// Package httpjsontest holds what the fuzz tests of every request decoder
// share: a request carrying the fuzzed body, and the check that a refusal is
// a client error in the API's envelope.
package httpjsontest

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
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
