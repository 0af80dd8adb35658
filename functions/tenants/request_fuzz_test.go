package tenants

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// hostileBodies are seeds every decoder here starts from: broken, nested,
// huge, ill-typed and metacharacter-laden JSON.
var hostileBodies = []string{`{"name":"Acme","slug":"acme"}`, `{"name":"Acme","slug":"acme","idp_tenant_id":"idp-1"}`,
	`{"name":"a'b","slug":"a-b"}`, `{"name":"'; DROP TABLE tenants;--","slug":"x"}`,
	`{"name":"\"]])redis.call('FLUSHALL')--","slug":"x"}`, `{"name":"%s%n","slug":"x","idp_tenant_id":null}`,
	`{"name":"a\u0000","slug":"x"}`, "{\"name\":\"\xff\",\"slug\":\"x\"}", `{"name":"A","slug":"x'; --"}`,
	`{"name":"A","slug":"x","slug":"y"}`, `{"name":1e400,"slug":"x"}`, `{"name":"A","slug":["x"]}`,
	`{"status":"suspended"}`, `{"status":"deleted"}`, `{"name":null}`, `{"idp_tenant_id":null}`, `{}`, `null`,
	`{"slug":"-x"}`, `{"slug":"` + strings.Repeat("a", 64) + `"}`, strings.Repeat("[", 10000), `{"name":"A","slug":"x"} x`,
	// Cases the seeds above miss.
	``,                                  // an empty body
	"\ufeff{}",                          // a byte order mark: malformed JSON
	`"x"`,                               // a JSON value, not an object
	`{"name":"A","slug":"x","seats":1}`, // an unknown field
	`{"slug":"a","SLUG":"b"}`,           // one name twice, differing in case
}

// slugOK is the documented slug rule, written without the regexp: 1-63
// lowercase ASCII letters, digits or hyphens, not starting or ending with a
// hyphen.
func slugOK(s string) bool {
	if len(s) < 1 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// FuzzDecodeCreate: never a panic; a refusal is a 4xx *httpjson.Error; an
// accepted tenant has a valid name (1-200 bytes, no control characters), a
// valid slug and, if given, a valid identity platform tenant id.
func FuzzDecodeCreate(f *testing.F) {
	for _, s := range hostileBodies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodeCreate(httptest.NewRecorder(), httpjsontest.Request(http.MethodPost, "/v1/tenants", body))
		if err != nil {
			httpjsontest.Refused(t, "decoding", body, err)
			return
		}
		if httpjson.Text("name", req.Name, true, 200) != nil || !slugOK(req.Slug) ||
			req.IDPTenantID != nil && httpjson.Text("idp_tenant_id", *req.IDPTenantID, true, 128) != nil {
			t.Fatalf("decodeCreate(%.80q) accepted %+v", body, req)
		}
	})
}

// FuzzDecodePatch: an accepted patch changes something, never sets name,
// slug or status to null, and every value it sets is valid.
func FuzzDecodePatch(f *testing.F) {
	for _, s := range hostileBodies {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := decodePatch(httptest.NewRecorder(), httpjsontest.Request(http.MethodPost, "/v1/tenants", body))
		if err != nil {
			httpjsontest.Refused(t, "decoding", body, err)
			return
		}
		bad := !req.Name.Set && !req.Slug.Set && !req.Status.Set && !req.IDPTenantID.Set ||
			req.Name.Null || req.Slug.Null || req.Status.Null ||
			req.Name.Set && httpjson.Text("name", req.Name.Value, true, 200) != nil ||
			req.Slug.Set && !slugOK(req.Slug.Value) ||
			req.Status.Set && req.Status.Value != "active" && req.Status.Value != "suspended" ||
			req.IDPTenantID.Set && !req.IDPTenantID.Null && httpjson.Text("idp_tenant_id", req.IDPTenantID.Value, true, 128) != nil
		if bad {
			t.Fatalf("decodePatch(%.80q) accepted %+v", body, req)
		}
	})
}
