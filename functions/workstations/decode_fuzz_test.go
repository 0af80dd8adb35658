package workstations

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzDecodePatch feeds any body to the workstation patch decoder. It never
// panics; a refusal is a 4xx *httpjson.Error; an accepted request says
// whether to block (only from a JSON true or false).
func FuzzDecodePatch(f *testing.F) {
	for _, s := range []string{`{"blocked":true}`, `{"blocked":false}`, `{"blocked":null}`, `{"blocked":"true"}`, `{"blocked":1}`,
		`{"blocked":true,"blocked":false}`, `{"BLOCKED":true}`, `{"blocked":true,"hostname":"x"}`, `{}`, `null`, `true`,
		"{\"blocked\":true,\"\xff\":1}", `{"blocked":tru}`, strings.Repeat(`{"blocked":`, 5000),
		// Cases the seeds above miss.
		``,                   // an empty body
		`{"blocked":true} x`, // data after the object
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httpjsontest.Request(http.MethodPatch, "/", body)
		req, err := decodePatch(httptest.NewRecorder(), r)
		if httpjsontest.Refused(t, "decodePatch", body, err) {
			return
		}
		if req.Blocked == nil || !bytes.Contains(body, []byte("true")) && !bytes.Contains(body, []byte("false")) {
			t.Fatalf("decodePatch(%.80q) accepted %+v", body, req)
		}
	})
}
