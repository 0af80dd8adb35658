package e2e_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/functions/cmd/internal/compose"
	"github.com/coditect-ai/license-server/functions/console"
	"github.com/coditect-ai/license-server/functions/openapi"
	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/billing"
	bt "github.com/coditect-ai/license-server/shared/billing/billingtest"
	"github.com/coditect-ai/license-server/shared/config"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/links"
	"github.com/coditect-ai/license-server/shared/notifications"
	"github.com/coditect-ai/license-server/shared/outbox"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/testenv"
	"github.com/coditect-ai/license-server/shared/tokens"
)

func init() {
	// OpenAPI leaves "uuid" unchecked unless a validator is defined.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
}

// loadSpec parses the embedded document and checks it is valid OpenAPI 3.1.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Document())
	if err != nil {
		t.Fatalf("loading spec.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("spec.json is OpenAPI %q; want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError(), openapi3.EnableSchemaFormatValidation(),
		openapi3.EnableSchemaDefaultsValidation(), openapi3.EnableSchemaPatternValidation()); err != nil {
		t.Fatalf("spec.json is not valid OpenAPI 3.1:\n%v", err)
	}
	return doc
}

// operations lists the document's operations as "METHOD /path".
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

func TestSpecIsValid(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	if !json.Valid(openapi.Document()) {
		t.Fatal("spec.json is not JSON")
	}
	tags := map[string]bool{}
	for _, tag := range doc.Tags {
		tags[tag.Name] = true
	}
	ids := map[string]string{}
	for name, op := range operations(doc) {
		if op.OperationID == "" {
			t.Errorf("%s has no operationId", name)
		} else if other, dup := ids[op.OperationID]; dup {
			t.Errorf("%s and %s share the operationId %q", name, other, op.OperationID)
		}
		ids[op.OperationID] = name
		if len(op.Tags) != 1 || !tags[op.Tags[0]] {
			t.Errorf("%s: tags %v; want one of the document's tags (the function's name)", name, op.Tags)
		}
		success := false
		for status, r := range op.Responses.Map() {
			if strings.HasPrefix(status, "2") {
				success = true
			}
			if status == "default" || len(status) != 3 || strings.Contains(status, "X") {
				t.Errorf("%s: response %q; list each status the handler gives", name, status)
				continue
			}
			if status[0] < '4' {
				continue
			}
			mt := r.Value.Content.Get("application/json")
			if mt == nil || !isError(mt.Schema) {
				t.Errorf("%s: the %s specAnswer is not the Error envelope", name, status)
			}
		}
		if !success {
			t.Errorf("%s documents no success specAnswer", name)
		}
		if rb := op.RequestBody; rb != nil {
			mt := rb.Value.Content.Get("application/json")
			if len(rb.Value.Content) != 1 || mt == nil {
				t.Errorf("%s: the request body must be application/json only", name)
				continue
			}
			s := mt.Schema.Value
			// A certificate request without a body is what every client
			// sent before bodies named a fingerprint: it stays valid.
			optional := name == "POST /v1/tenants/{tenant_id}/licenses/{license_id}/certificate"
			// Stripe's webhook body is Stripe's event: its fields are
			// Stripe's to add, and the signature, not a schema, guards it.
			stripeEvent := name == "POST /v1/billing/stripe/webhook"
			if rb.Value.Required == optional || (!stripeEvent && (s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has)) {
				t.Errorf("%s: the request body must be required (optional only where listed) and have additionalProperties: false (the server refuses unknown fields)", name)
			}
		}
	}
}

// isError reports whether s is the Error envelope, narrowed or extended.
func isError(s *openapi3.SchemaRef) bool {
	if s == nil {
		return false
	}
	if s.Ref == "#/components/schemas/Error" {
		return true
	}
	for _, sub := range s.Value.AllOf {
		if isError(sub) {
			return true
		}
	}
	if len(s.Value.OneOf) == 0 {
		return false
	}
	for _, sub := range s.Value.OneOf {
		if !isError(sub) {
			return false
		}
	}
	return true
}

// specServer serves every function, the OpenAPI function among them, as
// the local server does, on real Redis and a fresh PostgreSQL database.
func specServer(t *testing.T) (*httptest.Server, []route.Function, *backend.Backend) {
	t.Helper()
	return specServerWith(t, testenv.Notify(t))
}

// specServerWith is specServer with the notification settings given (the
// flow signs the links mails carry with their key).
func specServerWith(t *testing.T, notify config.Notify, bill ...config.Billing) (*httptest.Server, []route.Function, *backend.Backend) {
	t.Helper()
	b, _ := testenv.Backend(t)
	authn, err := authnOn(b, config.RateLimit{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	fns, err := allHTTP(t, ctx, compose.Deps{Backend: b, Authn: authn, Root: testenv.Root(t), Issuer: "https://api.test",
		Logger: slog.New(slog.DiscardHandler), Notify: notify, Billing: append(bill, config.Billing{})[0]},
		func(rb *backend.Backend) (*auth.Authenticator, error) {
			return authnOn(rb, config.RateLimit{})
		})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(fns, func(f route.Function) bool { return f.Name == openapi.Name }) {
		t.Fatal("the composition root serves no OpenAPI function")
	}
	srv := httptest.NewServer(route.Mux(route.Options{Logger: slog.New(slog.DiscardHandler)}, fns...))
	t.Cleanup(srv.Close)
	return srv, fns, b
}

// specPath turns a ServeMux pattern into an OpenAPI path: "/health/{$}"
// (exactly /health/) is "/health/".
func specPath(pattern string) string {
	return strings.TrimSuffix(pattern, "{$}")
}

func TestRoutesMatchSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	_, fns, _ := specServer(t)
	documented := operations(doc)
	served := map[string]string{} // "METHOD /path" -> function
	for _, f := range fns {
		if f.Name == console.Name {
			// The web console's pages and files, and the rendered
			// reference of this document: not API operations.
			continue
		}
		for _, rt := range f.Routes {
			if strings.Contains(rt.Pattern, " ") || !strings.HasPrefix(rt.Pattern, "/") {
				t.Errorf("%s: pattern %q names a method or host; this test cannot map it", f.Name, rt.Pattern)
				continue
			}
			for method := range rt.Methods {
				served[method+" "+specPath(rt.Pattern)] = f.Name
			}
		}
	}
	var missing, extra []string
	for op, fn := range served {
		o, ok := documented[op]
		if !ok {
			missing = append(missing, op+" ("+fn+")")
			continue
		}
		if !slices.Contains(o.Tags, fn) {
			t.Errorf("%s is served by %s but tagged %v", op, fn, o.Tags)
		}
	}
	for op := range documented {
		if _, ok := served[op]; !ok {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes the spec does not document (add them to spec.json):\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("spec operations no function serves:\n  %s", strings.Join(extra, "\n  "))
	}
}

func TestServesSpec(t *testing.T) {
	t.Parallel()
	f, err := openapi.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(route.Handler(route.Options{Logger: slog.New(slog.DiscardHandler)}, f))
	defer srv.Close()
	resp, err := http.Get(srv.URL + openapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, openapi.Document()) {
		t.Fatalf("GET %s = %d with %d bytes; want 200 with the %d bytes of Document()", openapi.Path, resp.StatusCode, len(body), len(openapi.Document()))
	}
	if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "application/json" || cc != "public, max-age=300" {
		t.Fatalf("Content-Type %q, Cache-Control %q", ct, cc)
	}
}

// TestCheckerCatches makes sure the checks above can fail: a validator that
// passes everything would make the flow below prove nothing.
func TestCheckerCatches(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	license := doc.Components.Schemas["License"]
	good := map[string]any{
		"id": "0b9c3f4e-8d2a-4c1b-9e7f-1a2b3c4d5e6f", "tenant_id": "1b9c3f4e-8d2a-4c1b-9e7f-1a2b3c4d5e6f",
		"product": "p", "seats": 2.0, "seats_used": 0.0, "lease_ttl_seconds": 60.0, "max_lease_ttl_seconds": 86400.0, "status": "active",
		"expires_at": nil, "require_user": false, "max_seats_per_user": nil, "max_instances_per_seat": nil, "leasing": "per_fingerprint",
		"linger_seconds": 0.0, "revive_seconds": 0.0, "overage": map[string]any{"mode": "none", "value": 0.0},
		"borrow": nil, "auto_renew": nil, "key_prefix": "lk_x", "created_at": "2026-01-02T03:04:05.006Z", "updated_at": "2026-01-02T03:04:05.006Z",
	}
	if err := doc.ValidateSchemaJSON(license.Value, good, openapi3.EnableJSONSchema2020()); err != nil {
		t.Fatalf("a valid license is refused: %v", err)
	}
	bad := map[string]func(map[string]any){
		"missing field":         func(m map[string]any) { delete(m, "seats_used") },
		"wrong type":            func(m map[string]any) { m["seats"] = "2" },
		"null not allowed":      func(m map[string]any) { m["product"] = nil },
		"not null or a time":    func(m map[string]any) { m["expires_at"] = 5.0 },
		"not a date-time":       func(m map[string]any) { m["created_at"] = "yesterday" },
		"not a uuid":            func(m map[string]any) { m["id"] = "nope" },
		"out of enum":           func(m map[string]any) { m["status"] = "deleted" },
		"out of range":          func(m map[string]any) { m["seats"] = 100001.0 },
		"nullable out of range": func(m map[string]any) { m["max_seats_per_user"] = 0.0 },
		"overage mode unknown":  func(m map[string]any) { m["overage"] = map[string]any{"mode": "lots", "value": 0.0} },
		"borrow member unknown": func(m map[string]any) { m["borrow"] = map[string]any{"max_days": 3.0} },
		"borrow too short":      func(m map[string]any) { m["borrow"] = map[string]any{"max_seconds": 60.0} },
		"auto_renew weekly":     func(m map[string]any) { m["auto_renew"] = map[string]any{"period": "P1W"} },
	}
	for name, change := range bad {
		m := map[string]any{}
		for k, v := range good {
			m[k] = v
		}
		change(m)
		if err := doc.ValidateSchemaJSON(license.Value, m, openapi3.EnableJSONSchema2020()); err == nil {
			t.Errorf("%s: the License schema accepts %v", name, m)
		}
	}
	good["surprise"] = true
	good["key"] = "lk_..."
	if got := undocumented([]*openapi3.SchemaRef{license}, good, "$"); !slices.Equal(got, []string{"$.key", "$.surprise"}) {
		t.Errorf("undocumented(License) = %v; want $.key and $.surprise", got)
	}
	created := doc.Components.Schemas["LicenseCreated"]
	if got := undocumented([]*openapi3.SchemaRef{created}, good, "$"); !slices.Equal(got, []string{"$.surprise"}) {
		t.Errorf("undocumented(LicenseCreated) = %v; want $.surprise", got)
	}
	// Schemas with JSON Schema 2020-12 keywords (const) go through
	// santhosh-tekuri/jsonschema; check that path refuses too.
	ready := doc.Components.Schemas["Readiness"]
	for _, c := range []struct {
		v    map[string]any
		want bool
	}{
		{map[string]any{"status": "ready", "checks": map[string]any{"redis": "ok"}}, true},
		{map[string]any{"status": "nope", "checks": map[string]any{"redis": "ok"}}, false},
		{map[string]any{"status": "ready", "checks": map[string]any{"redis": "maybe"}}, false},
		{map[string]any{"status": "ready"}, false},
	} {
		if err := doc.ValidateSchemaJSON(ready.Value, c.v, openapi3.EnableJSONSchema2020()); (err == nil) != c.want {
			t.Errorf("Readiness on %v: %v; want valid %v", c.v, err, c.want)
		}
	}
	tenant := doc.Components.Schemas["TenantCreate"]
	for _, body := range []string{`{"name":"a\u0007","slug":"a"}`, `{"name":"a","slug":"A"}`, `{"name":"","slug":"a"}`, `{"name":"a","slug":"a","x":1}`} {
		var v any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		if err := doc.ValidateSchemaJSON(tenant.Value, v, openapi3.EnableJSONSchema2020()); err == nil {
			t.Errorf("TenantCreate accepts %s", body)
		}
	}
}

// TestResponsesMatchSpec runs a realistic session of every operation, and a
// sample of errors, through every function, and holds each specAnswer to the
// spec.
func TestResponsesMatchSpec(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	notify := testenv.Notify(t)
	mock := testenv.NewStripeMock(t)
	srv, _, b := specServerWith(t, notify, testBilling(mock.URL))
	c := &checker{t: t, doc: doc, base: srv.URL, covered: map[string]bool{}}
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)

	// Anyone.
	c.do(call{method: "GET", path: "/health/", want: 200})
	c.do(call{method: "HEAD", path: "/health/", want: 200})
	c.do(call{method: "GET", path: "/ready", want: 200})
	c.do(call{method: "GET", path: "/v1/openapi.json", want: 200})

	// Tenants.
	tenant := c.do(call{method: "POST", path: "/v1/tenants", token: adminToken,
		body: `{"name":"Acme","slug":"acme"}`, want: 201}).str(t, "id")
	other := c.do(call{method: "POST", path: "/v1/tenants", token: adminToken,
		body: `{"name":"Other","slug":"other","idp_tenant_id":"idp-other"}`, want: 201}).str(t, "id")
	T := "/v1/tenants/" + tenant
	c.do(call{method: "GET", path: "/v1/tenants", token: adminToken, want: 200})
	page := c.do(call{method: "GET", path: "/v1/tenants?limit=1", token: adminToken, want: 200}).str(t, "next_cursor")
	c.do(call{method: "GET", path: "/v1/tenants?limit=1&cursor=" + page, token: adminToken, want: 200})
	c.do(call{method: "GET", path: T, token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: T, token: adminToken, body: `{"name":"Acme Inc","idp_tenant_id":"idp-acme"}`, want: 200})
	c.do(call{method: "PATCH", path: T, token: adminToken, body: `{"idp_tenant_id":null,"status":"active"}`, want: 200})

	// Licenses.
	created := c.do(call{method: "POST", path: T + "/licenses", token: adminToken,
		body: `{"product":"coditect","seats":2,"lease_ttl_seconds":60,"expires_at":"` + future + `","max_seats_per_user":5}`, want: 201})
	key, license := created.str(t, "key"), created.str(t, "id")
	L := T + "/licenses/" + license
	c.do(call{method: "GET", path: T + "/licenses", token: adminToken, want: 200})
	c.do(call{method: "GET", path: L, token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: L, token: adminToken, body: `{"seats":3,"expires_at":null,"leasing":"per_fingerprint"}`, want: 200})
	c.do(call{method: "PATCH", path: L, token: adminToken, body: `{"linger_seconds":300,"revive_seconds":60}`, want: 200})
	for _, bad := range []string{`{"linger_seconds":86401}`, `{"revive_seconds":-1}`, `{"revive_seconds":null}`} {
		c.do(call{method: "PATCH", path: L, token: adminToken, body: bad, want: 400, code: "invalid_request", specRejects: true})
	}
	// Off again: the flow below releases and acquires as without them.
	c.do(call{method: "PATCH", path: L, token: adminToken, body: `{"linger_seconds":0,"revive_seconds":0}`, want: 200})

	// The SDK.
	acquire := `{"license_key":"` + key + `","fingerprint":"laptop-1","hostname":"laptop-1","os":"linux","user":"ada","repository":"git@github.com:acme/widget.git"}`
	session := c.do(call{method: "POST", path: "/v1/acquire", body: acquire, want: 200}).str(t, "session_id")
	if again := c.do(call{method: "POST", path: "/v1/acquire", body: acquire, want: 200}); again.value["resumed"] != true {
		t.Errorf("a second acquire from the workstation did not resume: %s", again.body)
	}
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + session + `"}`, want: 200})
	c.do(call{method: "GET", path: L + "/sessions", token: adminToken, want: 200})
	c.do(call{method: "POST", path: L + "/certificate", token: adminToken, want: 200})
	c.do(call{method: "GET", path: "/v1/keys", want: 200})
	c.do(call{method: "GET", path: L + "/sessions?limit=1", token: adminToken, want: 200})

	// API keys: a member reads licenses but changes nothing.
	member := c.do(call{method: "POST", path: T + "/api-keys", token: adminToken, body: `{"name":"ci","role":"member"}`, want: 201})
	memberKey, memberID := member.str(t, "key"), member.str(t, "id")
	c.do(call{method: "POST", path: T + "/api-keys", token: adminToken, body: `{"name":"ops","role":"admin"}`, want: 201})
	c.do(call{method: "GET", path: T + "/api-keys", token: adminToken, want: 200})
	c.do(call{method: "GET", path: T + "/licenses", token: memberKey, want: 200})
	c.do(call{method: "GET", path: "/v1/tenants", token: memberKey, want: 200})
	c.do(call{method: "PATCH", path: L, token: memberKey, body: `{"seats":1}`, want: 403, code: "forbidden"})
	c.do(call{method: "PATCH", path: T, token: memberKey, body: `{"name":"Mine"}`, want: 403, code: "forbidden"})
	c.do(call{method: "POST", path: "/v1/tenants", token: memberKey, body: `{"name":"x","slug":"x"}`, want: 403, code: "forbidden"})
	c.do(call{method: "GET", path: "/v1/tenants/" + other, token: memberKey, want: 404, code: "tenant_not_found"})

	// Repositories.
	repo := c.do(call{method: "POST", path: T + "/repositories", token: adminToken,
		body: `{"name":"widget","remote_url":"https://github.com/acme/widget.git","provider":"github","default_branch":"main"}`, want: 201}).str(t, "id")
	R := T + "/repositories/" + repo
	c.do(call{method: "GET", path: T + "/repositories", token: adminToken, want: 200})
	c.do(call{method: "GET", path: R, token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: R, token: adminToken, body: `{"default_branch":"trunk"}`, want: 200})
	c.do(call{method: "POST", path: T + "/repositories", token: adminToken,
		body: `{"name":"widget again","remote_url":"git@github.com:acme/widget.git"}`, want: 409, code: "remote_taken"})
	c.do(call{method: "DELETE", path: R, token: adminToken, want: 204})
	c.do(call{method: "GET", path: R, token: adminToken, want: 404, code: "repository_not_found"})

	// Workstations: recorded in the background after the acquire.
	var ws map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		list := c.do(call{method: "GET", path: T + "/workstations", token: adminToken, want: 200})
		if all, _ := list.value["workstations"].([]any); len(all) > 0 {
			ws, _ = all[0].(map[string]any)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the acquiring workstation was not listed within 5 s")
		}
	}
	if s, _ := ws["sessions"].([]any); len(s) != 1 {
		t.Errorf("the workstation lists %d live sessions; want 1: %v", len(s), ws)
	}
	W := T + "/workstations/" + ws["id"].(string)
	c.do(call{method: "GET", path: W, token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: W, token: adminToken, body: `{"blocked":true}`, want: 200})
	c.do(call{method: "POST", path: "/v1/acquire", body: acquire, want: 403, code: "workstation_blocked"})
	// The block ended the workstation's session in the same step.
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + session + `"}`, want: 403, code: "workstation_blocked"})
	c.do(call{method: "PATCH", path: W, token: adminToken, body: `{"blocked":false}`, want: 200})
	session = c.do(call{method: "POST", path: "/v1/acquire", body: acquire, want: 200}).str(t, "session_id")

	// Audit, newest first, a page at a time.
	next := c.do(call{method: "GET", path: T + "/audit?limit=2", token: adminToken, want: 200}).str(t, "next_cursor")
	c.do(call{method: "GET", path: T + "/audit?limit=2&cursor=" + next, token: adminToken, want: 200})
	c.do(call{method: "GET", path: T + "/audit", token: adminToken, want: 200})
	c.do(call{method: "GET", path: T + "/audit?action=workstation.update&target_type=workstation&limit=1", token: adminToken, want: 200})
	c.do(call{method: "GET", path: T + "/audit?action=license.frobnicate", token: adminToken, want: 400, code: "invalid_request"})
	// The ledger, drained as the cleanup function does, read as a report.
	if _, err := b.Cleaner.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := c.do(call{method: "GET", path: T + "/usage?group_by=user&granularity=hour", token: adminToken, want: 200}); !strings.Contains(string(r.body), `"key":"ada"`) {
		t.Fatalf("usage: %s", r.body)
	}
	c.do(call{method: "GET", path: T + "/usage?granularity=week", token: adminToken, want: 400, code: "invalid_request", specRejects: true})

	// Billing: a Stripe-signed webhook makes a tenant with a license; its
	// billing and portal come from Stripe (stripe-mock); a forged delivery
	// and a tenant not sold through Stripe get their errors.
	sold := time.Now().Add(-time.Minute)
	event := bt.Event("evt_spec", billing.EventSubscriptionCreated, sold, bt.Subscription("sub_spec", "cus_spec", "active", false,
		bt.Item{ID: "si_spec", PriceID: "price_spec", Metadata: map[string]string{"product": "cad"}, Quantity: 2, PeriodStart: sold,
			PeriodEnd: sold.AddDate(0, 1, 0)}))
	delivery := call{method: "POST", path: "/v1/billing/stripe/webhook", body: string(event), want: 200,
		headers: map[string]string{"Stripe-Signature": bt.Sign(event, testenv.StripeWebhookSecret, time.Now())}}
	c.do(delivery)
	delivery.headers = map[string]string{"Stripe-Signature": bt.Sign(event, "whsec_forged", time.Now())}
	delivery.want, delivery.code = 400, "invalid_signature"
	c.do(delivery)
	var sold2 string
	if err := b.DB.Tx(context.Background(), database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT tenant_id FROM billing_customers WHERE stripe_customer_id = 'cus_spec'`).Scan(&sold2)
	}); err != nil {
		t.Fatal(err)
	}
	c.do(call{method: "GET", path: "/v1/tenants/" + sold2 + "/billing", token: adminToken, want: 200})
	c.do(call{method: "POST", path: "/v1/tenants/" + sold2 + "/billing/portal", token: adminToken, want: 201})
	c.do(call{method: "GET", path: T + "/billing", token: adminToken, want: 200})
	c.do(call{method: "POST", path: T + "/billing/portal", token: adminToken, want: 409, code: "billing_not_set_up"})

	// Seat policy answers.
	newKey := func(body string) string {
		return c.do(call{method: "POST", path: T + "/licenses", token: adminToken, body: body, want: 201}).str(t, "key")
	}
	one := newKey(`{"product":"one-seat","seats":1}`)
	c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + one + `","fingerprint":"a"}`, want: 200})
	if full := c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + one + `","fingerprint":"b"}`, want: 409, code: "no_seats_available"}); full.value["seats_total"] != 1.0 {
		t.Errorf("no_seats_available does not say seats_total 1: %s", full.body)
	}
	perUser := newKey(`{"product":"per-user","seats":5,"max_seats_per_user":1,"leasing":"per_fingerprint"}`)
	c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + perUser + `","fingerprint":"a","user":"bob"}`, want: 200})
	c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + perUser + `","fingerprint":"b","user":"bob"}`, want: 409, code: "user_seat_limit"})
	named := newKey(`{"product":"named","seats":5,"require_user":true,"leasing":"per_user","lease_ttl_seconds":30}`)
	c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + named + `","fingerprint":"a"}`, want: 401, code: "user_required"})
	c.do(call{method: "POST", path: "/v1/acquire", token: memberKey, body: `{"license_key":"` + named + `","fingerprint":"a"}`, want: 200})
	c.do(call{method: "POST", path: "/v1/acquire", token: "not-a-credential", body: `{"license_key":"` + named + `","fingerprint":"a"}`, want: 401, code: "unauthorized"})
	c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"lk_nope","fingerprint":"a"}`, want: 404, code: "license_not_found"})
	// A seat two processes share: the second is one more holder, a third
	// over max_instances_per_seat is instance_limit, a release by one keeps
	// the seat for the other, and the sessions view lists the holders.
	shared := newKey(`{"product":"shared","seats":1,"max_instances_per_seat":2}`)
	byInstance := func(fp, instance string) string {
		return `{"license_key":"` + shared + `","fingerprint":"` + fp + `","instance_id":"` + instance + `"}`
	}
	held := c.do(call{method: "POST", path: "/v1/acquire", body: byInstance("a", "proc-1"), want: 200}).str(t, "session_id")
	c.do(call{method: "POST", path: "/v1/acquire", body: byInstance("a", "proc-2"), want: 200})
	if over := c.do(call{method: "POST", path: "/v1/acquire", body: byInstance("a", "proc-3"), want: 409, code: "instance_limit"}); over.value["max_instances_per_seat"] != 2.0 || over.value["instances"] != 2.0 {
		t.Errorf("instance_limit does not say 2 of 2: %s", over.body)
	}
	c.do(call{method: "POST", path: "/v1/acquire", body: byInstance("a", "*"), want: 400, code: "invalid_request", specRejects: true})
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + held + `","instance_id":"proc-2"}`, want: 200})
	if r := c.do(call{method: "POST", path: "/v1/release", body: `{"session_id":"` + held + `","instance_id":"proc-1"}`, want: 200}); r.value["released"] != true || r.value["seat_freed"] != false {
		t.Errorf("release by one of two holders: %s", r.body)
	}
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + held + `","instance_id":"proc-1"}`, want: 404, code: "session_not_found"})
	// Linger and revive: a release that lingers says until when, the
	// sessions view shows the lingering seat, the same workstation takes it
	// back; a heartbeat after the lease ran out is revived.
	lingering := c.do(call{method: "POST", path: T + "/licenses", token: adminToken,
		body: `{"product":"lingers","seats":1,"linger_seconds":300,"lease_ttl_seconds":1,"revive_seconds":60}`, want: 201})
	lingers := lingering.str(t, "key")
	onLingers := `{"license_key":"` + lingers + `","fingerprint":"a"}`
	kept := c.do(call{method: "POST", path: "/v1/acquire", body: onLingers, want: 200}).str(t, "session_id")
	if r := c.do(call{method: "POST", path: "/v1/release", body: `{"session_id":"` + kept + `"}`, want: 200}); r.value["seat_freed"] != false || r.value["lingers_until"] == nil {
		t.Errorf("a release that lingers: %s", r.body)
	}
	if list := c.do(call{method: "GET", path: T + "/licenses/" + lingering.str(t, "id") + "/sessions", token: adminToken, want: 200}); !strings.Contains(string(list.body), `"lingering":true`) {
		t.Errorf("the sessions view does not show the lingering seat: %s", list.body)
	}
	if back := c.do(call{method: "POST", path: "/v1/acquire", body: onLingers, want: 200}); back.value["resumed"] != true || back.str(t, "session_id") != kept {
		t.Errorf("the lingering seat taken back: %s", back.body)
	}
	time.Sleep(1200 * time.Millisecond)
	if r := c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + kept + `"}`, want: 200}); r.value["revived"] != true {
		t.Errorf("a heartbeat after the lease ran out: %s", r.body)
	}

	// Borrow: a borrowed seat answers heartbeat and release 409, a revoked
	// one is on the signed list, and the device's proof returns another.
	lending := c.do(call{method: "POST", path: T + "/licenses", token: adminToken,
		body: `{"product":"lends","seats":3,"borrow":{"max_seconds":3600,"max_concurrent":2}}`, want: 201})
	lends := lending.str(t, "key")
	borrowOf := func(fp string) (string, ed25519.PrivateKey) {
		sid := c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + lends + `","fingerprint":"` + fp + `"}`, want: 200}).str(t, "session_id")
		priv, pub, err := leasejws.NewDeviceKey()
		if err != nil {
			t.Fatal(err)
		}
		dk, _ := json.Marshal(pub)
		c.do(call{method: "POST", path: "/v1/borrow", body: `{"session_id":"` + sid + `","seconds":600,"device_key":` + string(dk) + `}`, want: 200})
		return sid, priv
	}
	lent, lentKey := borrowOf("a")
	revokedBorrow, _ := borrowOf("b")
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + lent + `"}`, want: 409, code: "session_borrowed"})
	c.do(call{method: "POST", path: "/v1/release", body: `{"session_id":"` + lent + `"}`, want: 409, code: "session_borrowed"})
	third := c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + lends + `","fingerprint":"c"}`, want: 200}).str(t, "session_id")
	_, thirdKey, _ := leasejws.NewDeviceKey()
	dk, _ := json.Marshal(thirdKey)
	c.do(call{method: "POST", path: "/v1/borrow", body: `{"session_id":"` + third + `","seconds":600,"device_key":` + string(dk) + `}`, want: 409, code: "borrow_limit"})
	c.do(call{method: "POST", path: "/v1/borrow", body: `{"session_id":"` + third + `","seconds":600}`, want: 400, code: "invalid_request", specRejects: true})
	c.do(call{method: "DELETE", path: T + "/licenses/" + lending.str(t, "id") + "/sessions/" + tokens.SessionDigest(revokedBorrow), token: adminToken, want: 204})
	c.do(call{method: "GET", path: "/v1/licenses/revocations?license_key=" + url.QueryEscape(lends), want: 200})
	c.do(call{method: "GET", path: "/v1/licenses/revocations?license_key=lk_nope", want: 404, code: "license_not_found"})
	proof, err := leasejws.SignReturnProof(lentKey, lent, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c.do(call{method: "POST", path: "/v1/return", body: `{"session_id":"` + lent + `","proof":"` + proof + `"}`, want: 200})
	c.do(call{method: "POST", path: "/v1/return", body: `{"session_id":"` + third + `","proof":"` + proof + `"}`, want: 409, code: "not_borrowed"})

	// The operator's controls: rotate the key (the old one works for the
	// grace), end one session by its digest, end them all.
	c.do(call{method: "POST", path: L + "/rotate-key", token: adminToken, body: `{"grace_seconds":60}`, want: 200})
	c.do(call{method: "POST", path: L + "/rotate-key", token: adminToken, body: `{"grace_seconds":-1}`, want: 400, code: "invalid_request", specRejects: true})
	extra := c.do(call{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + key + `","fingerprint":"laptop-2","user":"bob"}`, want: 200}).str(t, "session_id")
	c.do(call{method: "DELETE", path: L + "/sessions/" + tokens.SessionDigest(extra), token: adminToken, want: 204})
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + extra + `"}`, want: 403, code: "session_revoked"})
	c.do(call{method: "DELETE", path: L + "/sessions/" + tokens.SessionDigest(extra), token: adminToken, want: 404, code: "session_not_found"})
	c.do(call{method: "POST", path: L + "/sessions:revoke-all", token: adminToken, want: 200})
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + session + `"}`, want: 403, code: "session_revoked"})
	session = c.do(call{method: "POST", path: "/v1/acquire", body: acquire, want: 200}).str(t, "session_id")

	// Members: invitations, roles, the last-admin rule; the platform's own
	// admins; who the caller is.
	c.do(call{method: "GET", path: "/v1/me", token: adminToken, want: 200})
	c.do(call{method: "GET", path: "/v1/me", token: memberKey, want: 200})
	ada := c.do(call{method: "POST", path: T + "/members", token: adminToken, body: `{"email":"ada@example.com","role":"admin"}`, want: 201}).str(t, "id")
	bob := c.do(call{method: "POST", path: T + "/members", token: adminToken, body: `{"email":"bob@example.com","role":"member","kind":"person"}`, want: 201}).str(t, "id")
	c.do(call{method: "POST", path: T + "/members", token: adminToken, body: `{"email":"ADA@example.com","role":"member"}`, want: 409, code: "member_exists"})
	c.do(call{method: "GET", path: T + "/members", token: memberKey, want: 200})
	c.do(call{method: "GET", path: T + "/members/" + bob, token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: T + "/members/" + bob, token: adminToken, body: `{"role":"admin"}`, want: 200})
	c.do(call{method: "DELETE", path: T + "/members/" + bob, token: adminToken, want: 204})
	c.do(call{method: "PATCH", path: T + "/members/" + ada, token: adminToken, body: `{"role":"member"}`, want: 409, code: "last_admin"})
	c.do(call{method: "DELETE", path: T + "/members/" + ada, token: adminToken, want: 409, code: "last_admin"})
	c.do(call{method: "GET", path: T + "/members/" + bob, token: adminToken, want: 404, code: "member_not_found"})
	root := c.do(call{method: "POST", path: "/v1/platform/members", token: adminToken, body: `{"email":"root@vendor.example","role":"admin"}`, want: 201}).str(t, "id")
	root2 := c.do(call{method: "POST", path: "/v1/platform/members", token: adminToken, body: `{"email":"ops@vendor.example","role":"admin"}`, want: 201}).str(t, "id")
	c.do(call{method: "GET", path: "/v1/platform/members", token: adminToken, want: 200})
	c.do(call{method: "GET", path: "/v1/platform/members/" + root, token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: "/v1/platform/members/" + root, token: adminToken, body: `{"role":"admin"}`, want: 200})
	c.do(call{method: "DELETE", path: "/v1/platform/members/" + root2, token: adminToken, want: 204})
	c.do(call{method: "GET", path: "/v1/platform/members", token: memberKey, want: 403, code: "forbidden"})

	// A suspended license ends its sessions at the next heartbeat.
	c.do(call{method: "PATCH", path: L, token: adminToken, body: `{"status":"suspended"}`, want: 200})
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + session + `"}`, want: 403, code: "license_inactive"})
	c.do(call{method: "POST", path: "/v1/release", body: `{"session_id":"` + session + `"}`, want: 200})
	c.do(call{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + session + `"}`, want: 404, code: "session_not_found"})

	// Revoking a key ends it at once.
	c.do(call{method: "DELETE", path: T + "/api-keys/" + memberID, token: adminToken, want: 204})
	c.do(call{method: "GET", path: T + "/licenses", token: memberKey, want: 401, code: "unauthorized"})
	c.do(call{method: "DELETE", path: T + "/api-keys/" + memberID, token: adminToken, want: 404, code: "api_key_not_found"})

	// Notifications: an endpoint, its secret's rotation, a test ping and
	// its redelivery, the log; who is e-mailed; the two links mails carry,
	// followed without signing in.
	hook := c.do(call{method: "POST", path: T + "/webhooks", token: adminToken,
		body: `{"url":"https://hooks.example.com/licenses","event_types":["license.created","seats.exhausted"],"description":"CI"}`, want: 201})
	H := T + "/webhooks/" + hook.str(t, "id")
	c.do(call{method: "GET", path: T + "/webhooks", token: adminToken, want: 200})
	c.do(call{method: "GET", path: H, token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: H, token: adminToken, body: `{"event_types":[],"enabled":false}`, want: 200})
	c.do(call{method: "POST", path: H + "/rotate-secret", token: adminToken, want: 200})
	ping := c.do(call{method: "POST", path: H + "/test", token: adminToken, want: 202}).str(t, "id")
	c.do(call{method: "POST", path: H + "/deliveries/" + ping + "/redeliver", token: adminToken, want: 202})
	c.do(call{method: "GET", path: H + "/deliveries?limit=10", token: adminToken, want: 200})
	c.do(call{method: "GET", path: T + "/notification-settings", token: adminToken, want: 200})
	c.do(call{method: "PATCH", path: T + "/notification-settings", token: adminToken,
		body: `{"time_zone":"Europe/Berlin","email":{"license.expired":{"email":true,"admins":true,"recipients":["ops@example.com"]}}}`, want: 200})
	signer, err := links.NewSigner(notify.LinkKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	unsub, err := signer.Sign(links.PurposeUnsubscribe, links.Unsubscribe{TenantID: tenant, Email: "ada@example.com", EventType: "seats.exhausted"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.do(call{method: "GET", path: "/v1/notifications/unsubscribe?token=" + unsub, want: 200})
	c.do(call{method: "POST", path: "/v1/notifications/unsubscribe?token=" + unsub, want: 200})
	invitation, err := signer.Sign(links.PurposeInvitation, links.Invitation{TenantID: tenant, MemberID: ada, Expires: time.Now().Add(time.Hour).Unix()}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c.do(call{method: "GET", path: "/v1/invitations/" + invitation, want: 200})
	for _, k := range []call{
		{method: "POST", path: T + "/webhooks", token: adminToken, body: `{"url":"https://169.254.169.254/latest"}`, want: 422, code: "invalid_webhook_url"},
		{method: "POST", path: T + "/webhooks", token: adminToken, body: `{"url":"https://10.1.2.3/in"}`, want: 422, code: "invalid_webhook_url"},
		{method: "POST", path: T + "/webhooks", token: adminToken, body: `{"url":"https://hooks.example.com","event_types":["license.exploded"]}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/webhooks", token: adminToken, body: `{"description":"no url"}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "PATCH", path: H, token: adminToken, body: `{}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "GET", path: T + "/webhooks/00000000-0000-4000-8000-000000000000", token: adminToken, want: 404, code: "webhook_not_found"},
		{method: "POST", path: H + "/deliveries/" + "00000000-0000-4000-8000-000000000000" + "/redeliver", token: adminToken, want: 404, code: "delivery_not_found"},
		{method: "PATCH", path: T + "/notification-settings", token: adminToken, body: `{"time_zone":"Mars/Olympus"}`, want: 400, code: "invalid_request"},
		{method: "GET", path: "/v1/notifications/unsubscribe?token=" + unsub + "x", want: 400, code: "invalid_link"},
		{method: "POST", path: "/v1/notifications/unsubscribe?token=" + invitation, want: 400, code: "invalid_link"},
		{method: "GET", path: "/v1/invitations/" + unsub, want: 404, code: "invitation_not_found"},
		{method: "DELETE", path: H, token: adminToken, want: 204},
		{method: "DELETE", path: H, token: adminToken, want: 404, code: "webhook_not_found"},
	} {
		c.do(k)
	}

	// A sample of errors.
	missing := "00000000-0000-4000-8000-000000000000"
	for _, k := range []call{
		{method: "GET", path: "/v1/tenants", want: 401, code: "unauthorized", specRejects: true},
		{method: "GET", path: "/v1/tenants", token: "wrong", want: 401, code: "unauthorized"},
		{method: "GET", path: "/v1/tenants?limit=0", token: adminToken, want: 400, code: "invalid_request", specRejects: true},
		{method: "GET", path: "/v1/tenants?cursor=garbage", token: adminToken, want: 400, code: "invalid_request"},
		{method: "GET", path: "/v1/tenants/not-a-uuid", token: adminToken, want: 404, code: "tenant_not_found", specRejects: true},
		{method: "GET", path: "/v1/tenants/" + missing, token: adminToken, want: 404, code: "tenant_not_found"},
		{method: "GET", path: T + "/licenses/" + missing, token: adminToken, want: 404, code: "license_not_found"},
		{method: "GET", path: T + "/licenses/" + missing + "/sessions", token: adminToken, want: 404, code: "license_not_found"},
		{method: "GET", path: L + "/sessions?limit=1001", token: adminToken, want: 400, code: "invalid_request", specRejects: true},
		{method: "GET", path: T + "/workstations/" + missing, token: adminToken, want: 404, code: "workstation_not_found"},
		{method: "GET", path: "/v1/nope", want: 404, code: "not_found"},
		{method: "PUT", path: "/v1/tenants", token: adminToken, body: `{}`, want: 405, code: "method_not_allowed"},
		{method: "DELETE", path: "/v1/acquire", want: 405, code: "method_not_allowed"},
		{method: "POST", path: "/v1/openapi.json", want: 405, code: "method_not_allowed"},
		{method: "POST", path: "/v1/tenants", token: adminToken, body: `{"name":"Acme","slug":"acme"}`, want: 409, code: "slug_taken"},
		{method: "PATCH", path: "/v1/tenants/" + other, token: adminToken, body: `{"idp_tenant_id":"idp-acme-2"}`, want: 200},
		{method: "PATCH", path: T, token: adminToken, body: `{"idp_tenant_id":"idp-acme-2"}`, want: 409, code: "idp_tenant_taken"},
		{method: "POST", path: "/v1/tenants", token: adminToken, body: `name=Acme`, contentType: "text/plain", want: 415, code: "unsupported_media_type", specRejects: true},
		{method: "POST", path: "/v1/tenants", token: adminToken, body: `{"name":"Bad","slug":"Not A Slug"}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: "/v1/tenants", token: adminToken, body: `{"name":"Bad","slug":"bad"`, want: 400, code: "invalid_request", specRejects: true},
		{method: "PATCH", path: T, token: adminToken, body: `{"status":"deleted"}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/licenses", token: adminToken, body: `{"product":"p","seats":0}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/licenses", token: adminToken, body: `{"product":"p","seats":1,"lease_ttl_seconds":86401}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/licenses", token: adminToken, body: `{"product":"p","seats":1,"colour":"red"}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/licenses", token: adminToken, body: `{"product":"p","seats":1,"lease_ttl_seconds":null}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/licenses", token: adminToken, body: `{"product":"p","seats":1,"expires_at":"2001-01-01T00:00:00Z"}`, want: 400, code: "invalid_request"},
		{method: "PATCH", path: L, token: adminToken, body: `{}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "PATCH", path: L, token: adminToken, body: `{"seats":null}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/api-keys", token: adminToken, body: `{"name":"x","role":"owner"}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "PATCH", path: W, token: adminToken, body: `{}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: T + "/repositories", token: adminToken, body: `{"name":"x","remote_url":"not a remote"}`, want: 400, code: "invalid_request"},
		{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + key + `"}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: "/v1/acquire", body: `{"license_key":"` + key + `","fingerprint":"tab\there"}`, want: 400, code: "invalid_request", specRejects: true},
		{method: "POST", path: "/v1/heartbeat", body: `{"session_id":"` + strings.Repeat("x", 70<<10) + `"}`, want: 413, code: "payload_too_large", specRejects: true},
		{method: "POST", path: "/v1/heartbeat", contentType: "application/xml", body: `<a/>`, want: 415, code: "unsupported_media_type", specRejects: true},
		{method: "POST", path: "/v1/release", body: `{"session_id":"` + session + `"}`, want: 200},
		{method: "POST", path: "/v1/release", body: `[]`, want: 400, code: "invalid_request", specRejects: true},
		{method: "DELETE", path: L, token: adminToken, want: 204},
		{method: "GET", path: L, token: adminToken, want: 404, code: "license_not_found"},
		{method: "DELETE", path: "/v1/tenants/" + other, token: adminToken, want: 204},
		{method: "GET", path: "/v1/tenants/" + other, token: adminToken, want: 404, code: "tenant_not_found"},
	} {
		c.do(k)
	}

	var uncovered []string
	for name, op := range operations(doc) {
		if !c.covered[op.OperationID] {
			uncovered = append(uncovered, op.OperationID+" ("+name+")")
		}
	}
	sort.Strings(uncovered)
	if len(uncovered) > 0 {
		t.Errorf("operations the flow never got a success specAnswer from (so nothing checked their schemas):\n  %s", strings.Join(uncovered, "\n  "))
	}
}

// TestWebhooksSectionIsTheCatalogue: the document's EventType enum and its
// webhooks section name exactly the event catalogue (and the test ping),
// each payload schema naming its type.
func TestWebhooksSectionIsTheCatalogue(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	var enum []string
	for _, v := range doc.Components.Schemas["EventType"].Value.Enum {
		enum = append(enum, v.(string))
	}
	if !slices.Equal(enum, outbox.Types) {
		t.Errorf("EventType enum = %v, the catalogue (outbox.Types) = %v", enum, outbox.Types)
	}
	want := append(slices.Clone(outbox.Types), notifications.PingType)
	var got []string
	for name, item := range doc.Webhooks {
		got = append(got, name)
		op := item.Post
		if op == nil || op.RequestBody == nil {
			t.Errorf("webhook %s documents no POST with a body", name)
			continue
		}
		s := op.RequestBody.Value.Content.Get("application/json").Schema.Value
		if len(s.AllOf) != 2 || s.AllOf[1].Value.Properties["type"].Value.Const != name {
			t.Errorf("webhook %s: its body does not pin type to %q", name, name)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("webhooks section = %v, want %v", got, want)
	}
}
