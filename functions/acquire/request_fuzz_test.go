package acquire

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzDecodeRequest feeds any body to the acquire decoder. It never
// panics; a refusal is a 4xx *httpjson.Error (the JSON envelope); an
// accepted request has a license key and fingerprint, and every field
// within its documented length, valid UTF-8 and free of control characters
// (the repository after normalising it too, since that is what is stored).
func FuzzDecodeRequest(f *testing.F) {
	const key = "lk_0123456789abcdef0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, s := range []string{
		`{"license_key":"` + key + `","fingerprint":"fp","hostname":"h","os":"linux","user":"ada","repository":"git@github.com:a/b.git"}`,
		`{"license_key":"` + key + `","fingerprint":"fp","repository":"https://github.com/a/b%2Fc"}`,
		`{"license_key":"` + key + `","fingerprint":"fp","hostname":"a'b","user":"'; DROP TABLE tenants;--"}`,
		`{"license_key":"` + key + `","fingerprint":"\"]])redis.call('FLUSHALL')--"}`,
		`{"license_key":"k","fingerprint":"a\u0000b"}`, "{\"license_key\":\"k\",\"fingerprint\":\"\xff\"}",
		`{"license_key":"k","fingerprint":"f","license_key":"k2"}`, `{"license_key":1e400,"fingerprint":"f"}`,
		`{"license_key":["k"],"fingerprint":"f"}`, `{"license_key":"k","fingerprint":"` + strings.Repeat("f", 257) + `"}`,
		`{"license_key":"k","fingerprint":"f","seats":2}`, `null`, `[]`, strings.Repeat("[", 5000), `{"fingerprint":"f"}`,
	} {
		f.Add([]byte(s))
	}
	// A NUL or newline percent-encoded in the repository passed the checks
	// once normalised (fixed in 088dd54); the first input is that commit's
	// corpus entry in the fuzzer's spelling.
	f.Add([]byte(`{"liCense_keY":"0","fingerprint":"00","repositorY":"https://0/0%00"}`))
	f.Add([]byte(`{"license_key":"` + key + `","fingerprint":"f","repository":"https://github.com/a/b%0aINFO"}`))
	// Cases the seeds above miss.
	for _, s := range []string{
		"",         // an empty body
		"\ufeff{}", // a byte order mark: malformed JSON
		`{"license_key":"k","fingerprint":"f"} x`,                                 // data after the object
		`{"license_key":"k","fingerprint":"f","repository":"file:///etc/passwd"}`, // not a git remote scheme
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httpjsontest.Request(http.MethodPost, "/v1/acquire", body)
		req, err := decodeRequest(httptest.NewRecorder(), r)
		if httpjsontest.Refused(t, "decodeRequest", body, err) {
			return
		}
		// Checked again after decoding: normalising the repository must
		// not make an accepted request break the rules.
		if err := req.checkFields(); err != nil {
			t.Fatalf("decodeRequest(%.80q) accepted %+v: %v", body, req, err)
		}
	})
}
