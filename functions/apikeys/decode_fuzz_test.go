package apikeys

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
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
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		req, err := decodeCreate(httptest.NewRecorder(), r)
		if err != nil {
			var e *httpjson.Error
			if !errors.As(err, &e) || e.Status < 400 || e.Status > 499 || e.Code == "" || e.Message == "" {
				t.Fatalf("decodeCreate(%.80q) = %#v; want a 4xx *httpjson.Error", body, err)
			}
			return
		}
		if httpjson.Text("name", req.Name, true, 200) != nil || req.Role != "admin" && req.Role != "member" {
			t.Fatalf("decodeCreate(%.80q) accepted %+v", body, req)
		}
	})
}
