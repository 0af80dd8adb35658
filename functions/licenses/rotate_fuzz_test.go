package licenses

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
	"github.com/coditect-ai/license-server/shared/licenses"
)

// FuzzDecodeRotate feeds any body to the rotate-key decoder. It never
// panics; a refusal is a 4xx *httpjson.Error; an accepted grace is whole
// seconds between none and the longest a replaced key may live.
func FuzzDecodeRotate(f *testing.F) {
	for _, s := range []string{`{}`, `{"grace_seconds":0}`, `{"grace_seconds":3600}`, `{"grace_seconds":604800}`,
		`{"grace_seconds":604801}`, `{"grace_seconds":-1}`, `{"grace_seconds":1.5}`, `{"grace_seconds":"60"}`,
		`{"grace_seconds":1e400}`, `{"grace_seconds":9223372036854775807}`, `{"grace_seconds":null}`,
		`{"grace_seconds":1,"grace_seconds":999999999}`, `{"grace":60}`, `null`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httpjsontest.Request(http.MethodPost, "/", body)
		grace, err := decodeRotate(httptest.NewRecorder(), r)
		if httpjsontest.Refused(t, "decodeRotate", body, err) {
			return
		}
		if grace < 0 || grace > licenses.MaxKeyGrace || grace%time.Second != 0 {
			t.Fatalf("decodeRotate(%.80q) accepted a grace of %v", body, grace)
		}
	})
}
