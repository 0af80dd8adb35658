package apikeys

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzDecodeCreate feeds any body to the API key create decoder. It never
// panics; a refusal is a 4xx *httpjson.Error; an accepted request has a
// name of 1-200 bytes without control characters and a role of "admin" or
// "member" (never platform_admin).
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range []string{`{"name":"ci","role":"admin"}`, `{"name":"ci","role":"member"}`,
		`{"name":"ci","role":"platform_admin"}`, `{"name":"ci","role":"ADMIN"}`, `{"name":"ci","role":"admin","role":"platform_admin"}`,
		`{"name":"ci","Role":"admin"}`, `{"name":"'; DROP TABLE api_keys;--","role":"member"}`,
		`{"name":"\"]])redis.call('FLUSHALL')--","role":"member"}`, `{"name":"a\u0000","role":"member"}`,
		"{\"name\":\"\xfe\",\"role\":\"member\"}", `{"name":"","role":"member"}`, `{"name":"` + strings.Repeat("n", 201) + `","role":"member"}`,
		`{"name":["ci"],"role":"member"}`, `{"name":"ci","role":null}`, `{"name":"ci","role":"member","key":"ak_x"}`,
		`{}`, `null`, strings.Repeat(`[`, 10000)} {
		f.Add([]byte(s))
	}
	// Cases the seeds above miss.
	for _, s := range []string{
		"",                                // an empty body
		"\ufeff{}",                        // a byte order mark: malformed JSON
		`{"name":"ci","role":"member"} x`, // data after the object
		`"x"`,                             // a JSON value, not an object
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httpjsontest.Request(http.MethodPost, "/", body)
		req, err := decodeCreate(httptest.NewRecorder(), r)
		if httpjsontest.Refused(t, "decodeCreate", body, err) {
			return
		}
		if httpjson.Text("name", req.Name, true, 200) != nil || req.Role != "admin" && req.Role != "member" {
			t.Fatalf("decodeCreate(%.80q) accepted %+v", body, req)
		}
	})
}
