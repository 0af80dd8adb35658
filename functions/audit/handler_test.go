package audit_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/coditect-ai/license-server/functions/audit"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/testenv"
)

const bootstrap = "audit-test-bootstrap-token-0123456789abcdef"

// server serves the function as its entry point deploys it (the reader
// role's backend) on a tenant whose log has four entries, and returns the
// tenant, its licenses and an admin's and a member's API key.
type server struct {
	url                 string
	tenant, lic1, lic2  string
	adminKey, memberKey string
}

func newServer(t *testing.T) server {
	t.Helper()
	b, _ := testenv.Backend(t)
	ctx := database.WithActor(context.Background(), "user:ada")
	ten, err := b.Tenants.Create(ctx, "Acme", "acme", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := server{tenant: ten.ID}
	lic := func() string {
		l, _, err := b.Licenses.Create(ctx, ten.ID, licenses.New{Product: "ide", Seats: 1, LeaseTTLSeconds: 60, Leasing: "per_fingerprint"})
		if err != nil {
			t.Fatal(err)
		}
		return l.ID
	}
	s.lic1, s.lic2 = lic(), lic()
	// The keys are made by the bootstrap admin: their api_key.create
	// entries are the bootstrap's.
	boot := database.WithActor(context.Background(), "bootstrap")
	if _, s.adminKey, err = b.APIKeys.Create(boot, ten.ID, "admin", "admin", "bootstrap"); err != nil {
		t.Fatal(err)
	}
	if _, s.memberKey, err = b.APIKeys.Create(boot, ten.ID, "member", "member", "bootstrap"); err != nil {
		t.Fatal(err)
	}
	rb := testenv.RoleBackends(t, b)[database.RoleReader]
	authn, err := auth.New(auth.Config{BootstrapToken: bootstrap, Keys: rb.APIKeys,
		ResolveTenant: func(ctx context.Context, idp string) (string, error) {
			t, err := rb.Tenants.ByIdentityTenant(ctx, idp)
			return t.ID, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	fn, err := audit.New(authn, rb.Audit, rb.Licensing)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, rt := range fn.Routes {
		mux.Handle(rt.Pattern, rt.Methods)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

type answer struct {
	Entries []struct {
		Actor, Action, TargetType, TargetID string
	} `json:"entries"`
	NextCursor *string `json:"next_cursor"`
	Error      struct{ Code, Message string }
}

func (s server) get(t *testing.T, token, tenant string, q url.Values, want int) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/v1/tenants/"+tenant+"/audit?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("GET ?%s: %v", q.Encode(), err)
	}
	if resp.StatusCode != want {
		t.Fatalf("GET ?%s: %d %+v, want %d", q.Encode(), resp.StatusCode, a.Error, want)
	}
	return a
}

// TestFilters: the query's filters reach the log; refused values are 400
// invalid_request, checked after the caller's role and before the tenant is
// looked up; a cursor serves only the filters it was given out with.
func TestFilters(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}

	for _, c := range []struct {
		name  string
		query url.Values
		want  int
	}{
		{"none", q(), 5},
		{"empty values are no filter", q("actor", "", "action", "", "target_type", "", "target_id", ""), 5},
		{"actor", q("actor", "user:ada"), 3},
		{"actor bootstrap", q("actor", "bootstrap"), 2},
		{"action", q("action", "license.create"), 2},
		{"action of a verb that left no entry", q("action", "license.rotate_key"), 0},
		{"target type", q("target_type", "api_key"), 2},
		{"target id", q("target_id", s.lic2), 1},
		{"all", q("actor", "user:ada", "action", "license.create", "target_type", "license", "target_id", s.lic1), 1},
	} {
		a := s.get(t, s.adminKey, s.tenant, c.query, http.StatusOK)
		if len(a.Entries) != c.want {
			t.Errorf("%s: %d entries, want %d: %+v", c.name, len(a.Entries), c.want, a.Entries)
		}
	}

	for _, c := range []struct {
		name  string
		query url.Values
	}{
		{"unknown action", q("action", "license.read")},
		{"action without a verb", q("action", "license")},
		{"action in another case", q("action", "License.update")},
		{"action with SQL", q("action", "license.update' OR '1'='1")},
		{"unknown target type", q("target_type", "user")},
		{"target type in another case", q("target_type", "LICENSE")},
		{"actor with a NUL", q("actor", "user:ada\x00")},
		{"actor with a newline", q("actor", "user:ada\nforged")},
		{"target id not UTF-8", q("target_id", "\xff\xfe")},
		{"target id too long", q("target_id", string(make([]byte, 513)))},
	} {
		a := s.get(t, s.adminKey, s.tenant, c.query, http.StatusBadRequest)
		if a.Error.Code != "invalid_request" || a.Error.Message == "" {
			t.Errorf("%s: error %+v", c.name, a.Error)
		}
	}
	// The role comes first: a member learns nothing from the filters.
	if a := s.get(t, s.memberKey, s.tenant, q("action", "nope"), http.StatusForbidden); a.Error.Code == "" {
		t.Errorf("member: %+v", a.Error)
	}
	// The platform admin, of a tenant that does not exist: 404, once the
	// filters are valid.
	missing := "00000000-0000-4000-8000-000000000000"
	s.get(t, bootstrap, missing, q("action", "nope"), http.StatusBadRequest)
	s.get(t, bootstrap, missing, q("action", "license.create"), http.StatusNotFound)

	// Paging through a filter, and the cursor bound to it.
	byAda := q("actor", "user:ada", "limit", "2")
	first := s.get(t, s.adminKey, s.tenant, byAda, http.StatusOK)
	if len(first.Entries) != 2 || first.NextCursor == nil {
		t.Fatalf("first page: %+v", first)
	}
	byAda.Set("cursor", *first.NextCursor)
	second := s.get(t, s.adminKey, s.tenant, byAda, http.StatusOK)
	if len(second.Entries) != 1 || second.NextCursor != nil || second.Entries[0].Action != "tenant.create" {
		t.Fatalf("second page: %+v", second)
	}
	for _, other := range []url.Values{
		q("cursor", *first.NextCursor),
		q("cursor", *first.NextCursor, "actor", "user:ada", "action", "license.create"),
		q("cursor", *first.NextCursor, "actor", "bootstrap"),
	} {
		if a := s.get(t, s.adminKey, s.tenant, other, http.StatusBadRequest); a.Error.Code != "invalid_request" {
			t.Errorf("cursor with %v: %+v", other, a.Error)
		}
	}
}
