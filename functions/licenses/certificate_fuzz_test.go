package licenses

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzDecodeCertificate feeds any body to the certificate request's
// decoder. It never panics; a refusal is a 4xx *httpjson.Error; an accepted
// fingerprint is at most 256 bytes of valid UTF-8 without control
// characters (empty: the certificate is not bound).
func FuzzDecodeCertificate(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"fingerprint":"ws-1"}`, `{"fingerprint":""}`, `{"fingerprint":null}`,
		`{"fingerprint":7}`, `{"fingerprint":"a\u0000"}`, "{\"fingerprint\":\"\xc3\x28\"}", `{"fingerprint":"a","fingerprint":"b"}`,
		`{"fingerprint":"ws","seats":9}`, `null`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httpjsontest.Request(http.MethodPost, "/", body)
		req, err := decodeCertificate(httptest.NewRecorder(), r)
		if httpjsontest.Refused(t, "decodeCertificate", body, err) {
			return
		}
		if err := httpjson.Text("fingerprint", req.Fingerprint, false, 256); err != nil {
			t.Fatalf("decodeCertificate(%.80q) accepted fingerprint %q: %v", body, req.Fingerprint, err)
		}
	})
}
