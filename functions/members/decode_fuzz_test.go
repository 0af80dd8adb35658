package members

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
	"github.com/coditect-ai/license-server/shared/members"
)

// FuzzDecodeInvite feeds any body to the invitation decoder, for a tenant
// and for the platform. It never panics; a refusal is a 4xx
// *httpjson.Error; an accepted invitation names a lower-cased e-mail
// address, a role the place allows (the platform's members are admins) and
// a known kind.
func FuzzDecodeInvite(f *testing.F) {
	for _, s := range []string{`{"email":"ada@example.com","role":"admin"}`, `{"email":"Ada@Example.COM","role":"member","kind":"person"}`,
		`{"email":"ci@p.iam.gserviceaccount.com","role":"member","kind":"service_account"}`, `{"email":"ada","role":"admin"}`,
		`{"email":"@example.com","role":"admin"}`, `{"email":"ada@example.com","role":"platform_admin"}`,
		`{"email":"ada@example.com","role":"admin","role":"member"}`, `{"email":"ada@example.com","role":"admin","kind":"robot"}`,
		`{"email":"a\u0000@example.com","role":"admin"}`, `{"email":"` + strings.Repeat("a", 400) + `@x.io","role":"admin"}`,
		`{"email":"ada@example.com","role":"admin","extra":1}`, `{"email":["ada@example.com"],"role":"admin"}`, `{}`, `null`, ``,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, platform bool) {
		r := httpjsontest.Request(http.MethodPost, "/", body)
		req, err := decodeInvite(httptest.NewRecorder(), r, platform)
		if httpjsontest.Refused(t, "decodeInvite", body, err) {
			return
		}
		if e, ok := members.NormalizeEmail(req.Email); !ok || e != req.Email || req.Email != strings.ToLower(req.Email) {
			t.Fatalf("decodeInvite(%.80q) accepted the e-mail %q", body, req.Email)
		}
		if req.Role != members.RoleAdmin && (platform || req.Role != members.RoleMember) {
			t.Fatalf("decodeInvite(%.80q, platform %v) accepted the role %q", body, platform, req.Role)
		}
		if req.Kind != "" && req.Kind != members.KindPerson && req.Kind != members.KindServiceAccount {
			t.Fatalf("decodeInvite(%.80q) accepted the kind %q", body, req.Kind)
		}
	})
}

// FuzzDecodePatch feeds any body to the role-change decoder: only a role
// the place allows is accepted.
func FuzzDecodePatch(f *testing.F) {
	for _, s := range []string{`{"role":"admin"}`, `{"role":"member"}`, `{"role":"platform_admin"}`, `{"role":"ADMIN"}`,
		`{"role":null}`, `{"role":"member","role":"admin"}`, `{"role":"admin","email":"x@y.z"}`, `{}`, `null`, ``} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, platform bool) {
		r := httpjsontest.Request(http.MethodPatch, "/", body)
		req, err := decodePatch(httptest.NewRecorder(), r, platform)
		if httpjsontest.Refused(t, "decodePatch", body, err) {
			return
		}
		if req.Role != members.RoleAdmin && (platform || req.Role != members.RoleMember) {
			t.Fatalf("decodePatch(%.80q, platform %v) accepted the role %q", body, platform, req.Role)
		}
	})
}
