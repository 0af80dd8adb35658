package release

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzDecode feeds any body to the release decoder. It never panics; a
// refusal is a 4xx *httpjson.Error; an accepted request has a session id of
// at most 128 bytes, valid UTF-8 without control characters.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"session_id":"0123456789abcdef0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"session_id":"s","fingerprint":"fp"}`, `{"session_id":"s","released":true}`, `{"session_id":"../../etc/passwd"}`, `{"session_id":"%2e%2e%2f"}`,
		`{"session_id":"'; DROP TABLE tenants;--"}`, `{"session_id":"\"]])redis.call('FLUSHALL')--"}`,
		`{"session_id":"a\u0000"}`, "{\"session_id\":\"\xc3\x28\"}", `{"session_id":1}`, `{"session_id":null}`,
		`{"session_id":"a","session_id":"b"}`, `{"session_id":"` + strings.Repeat("s", 129) + `"}`, `{}`, `"s"`,
		strings.Repeat(`{"a":`, 3000)} {
		f.Add([]byte(s))
	}
	// Cases the seeds above miss.
	for _, s := range []string{
		"",                                    // an empty body
		"\ufeff{}",                            // a byte order mark: malformed JSON
		`{"session_id":"s"} x`,                // data after the object
		`{"session_id":"a","SESSION_ID":"b"}`, // one name twice, differing in case
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httpjsontest.Request(http.MethodPost, "/v1/release", body)
		req, err := decode(httptest.NewRecorder(), r)
		if httpjsontest.Refused(t, "decode", body, err) {
			return
		}
		if err := httpjson.Text("session_id", req.SessionID, true, 128); err != nil {
			t.Fatalf("decode(%.80q) accepted %+v: %v", body, req, err)
		}
	})
}
