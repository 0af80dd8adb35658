package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// call is one request of the flow and the status it must get.
type call struct {
	method, path string
	token        string // bearer credential; none when empty
	body         string // JSON; none when empty
	contentType  string // application/json when empty and there is a body
	want         int
	code         string // the error code the specAnswer must carry, when set
	// specRejects: the request breaks the spec too (the server's 4xx is
	// one the spec's request schemas predict).
	specRejects bool
	// headers are sent as given (a webhook's Stripe-Signature).
	headers map[string]string
}

type specAnswer struct {
	status int
	header http.Header
	body   []byte
	value  map[string]any
}

// str reads a top-level string field of the specAnswer.
func (a specAnswer) str(t *testing.T, field string) string {
	t.Helper()
	s, ok := a.value[field].(string)
	if !ok || s == "" {
		t.Fatalf("specAnswer has no string %q: %s", field, a.body)
	}
	return s
}

// checker runs requests against the server and holds every specAnswer to the
// spec: its status must be documented for the operation, its body and
// headers must match the operation's specAnswer for that status, and it must
// send no field the spec leaves out.
type checker struct {
	t       *testing.T
	doc     *openapi3.T
	base    string
	covered map[string]bool // operationIds answered with a 2xx
}

func (k call) request(base string) *http.Request {
	var body io.Reader
	if k.body != "" {
		body = strings.NewReader(k.body)
	}
	r, err := http.NewRequest(k.method, base+k.path, body)
	if err != nil {
		panic(err)
	}
	if k.body != "" {
		ct := k.contentType
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	if k.token != "" {
		r.Header.Set("Authorization", "Bearer "+k.token)
	}
	for name, v := range k.headers {
		r.Header.Set(name, v)
	}
	return r
}

func (c *checker) do(k call) specAnswer {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(k.request(c.base))
	if err != nil {
		c.t.Fatalf("%s %s: %v", k.method, k.path, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("%s %s: reading the specAnswer: %v", k.method, k.path, err)
	}
	a := specAnswer{status: resp.StatusCode, header: resp.Header, body: body}
	if a.status != k.want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", k.method, k.path, a.status, k.want, body)
	}
	if len(body) > 0 && k.method != http.MethodHead {
		if err := json.Unmarshal(body, &a.value); err != nil {
			c.t.Errorf("%s %s: the specAnswer is not a JSON object: %v: %s", k.method, k.path, err, body)
		}
	}
	if e, _ := a.value["error"].(map[string]any); k.code != "" && e["code"] != k.code {
		c.t.Errorf("%s %s: error code %v, want %s: %s", k.method, k.path, e["code"], k.code, body)
	}
	if err := c.check(k, a); err != nil {
		c.t.Errorf("%s %s (%d): %v\nanswer: %s", k.method, k.path, a.status, err, truncate(body))
	}
	return a
}

func truncate(b []byte) []byte {
	if len(b) > 2000 {
		return append(b[:2000:2000], "..."...)
	}
	return b
}

// find returns the documented path a request path matches and its path
// parameters.
func (c *checker) find(path string) (string, *openapi3.PathItem, map[string]string) {
	path, _, _ = strings.Cut(path, "?")
	got := strings.Split(path, "/")
	for p, item := range c.doc.Paths.Map() {
		want := strings.Split(p, "/")
		if len(want) != len(got) {
			continue
		}
		params := map[string]string{}
		ok := true
		for i, w := range want {
			switch {
			case strings.HasPrefix(w, "{") && strings.HasSuffix(w, "}") && got[i] != "":
				params[w[1:len(w)-1]] = got[i]
			case w != got[i]:
				ok = false
			}
		}
		if ok {
			return p, item, params
		}
	}
	return "", nil, nil
}

func (c *checker) check(k call, a specAnswer) error {
	ctx := context.Background()
	path, item, params := c.find(k.path)
	if item == nil {
		// The router's specAnswer to any unknown path.
		return c.checkShared("UnknownPath", http.StatusNotFound, a)
	}
	method := k.method
	op := item.GetOperation(method)
	if op == nil && method == http.MethodHead {
		op, method = item.Get, http.MethodGet
	}
	if op == nil {
		if err := c.checkShared("MethodNotAllowed", http.StatusMethodNotAllowed, a); err != nil {
			return err
		}
		return checkAllow(item, a.header.Get("Allow"))
	}
	name := op.OperationID
	if op.Responses.Status(a.status) == nil {
		return fmt.Errorf("operation %s answered %d, which the spec does not document for it", name, a.status)
	}
	rt := &routers.Route{Spec: c.doc, Server: c.doc.Servers[0], Path: path, PathItem: item, Method: method, Operation: op}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: k.request(c.base), PathParams: params, Route: rt},
		Status:                 a.status,
		Header:                 a.header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(a.body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("operation %s: the specAnswer does not match the spec: %w", name, err)
	}
	if mt := op.Responses.Status(a.status).Value.Content.Get("application/json"); mt != nil && k.method != http.MethodHead {
		var v any
		if err := json.Unmarshal(a.body, &v); err != nil {
			return fmt.Errorf("operation %s: %w", name, err)
		}
		if extra := undocumented([]*openapi3.SchemaRef{mt.Schema}, v, "$"); len(extra) > 0 {
			return fmt.Errorf("operation %s: the specAnswer has fields the spec does not list: %s", name, strings.Join(extra, ", "))
		}
	} else if len(a.body) > 0 && k.method != http.MethodHead {
		return fmt.Errorf("operation %s: the spec documents no body for %d", name, a.status)
	}

	// The request: the spec must accept what the server accepted, and
	// refuse what the test says it refuses.
	reqErr := openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request: k.request(c.base), PathParams: params, Route: rt,
		// Defaults are not filled in: kin-openapi would put them in place of
		// an explicit null, which the server refuses.
		Options: &openapi3filter.Options{AuthenticationFunc: bearer, MultiError: true, SkipSettingDefaults: true},
	})
	switch {
	case a.status < 300 && reqErr != nil:
		return fmt.Errorf("operation %s: the server accepted a request the spec refuses: %w", name, reqErr)
	case k.specRejects && reqErr == nil:
		return fmt.Errorf("operation %s: the server refused the request but the spec accepts it", name)
	}
	if a.status < 300 {
		c.covered[name] = true
	}
	return nil
}

// bearer accepts a request that sends a bearer credential; which one is the
// server's business.
func bearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if in.SecurityScheme.Type == "http" && in.SecurityScheme.Scheme == "bearer" && strings.HasPrefix(h, "Bearer ") {
		return nil
	}
	return errors.New("no bearer credential")
}

// checkShared holds an specAnswer the router gives for any path (no operation)
// to the document's shared response of that name.
func (c *checker) checkShared(name string, status int, a specAnswer) error {
	if a.status != status {
		return fmt.Errorf("no documented operation, and %d is not the router's %d", a.status, status)
	}
	r := c.doc.Components.Responses[name].Value
	for h, ref := range r.Headers {
		if ref.Value.Required && a.header.Get(h) == "" {
			return fmt.Errorf("%s: no %s header", name, h)
		}
	}
	schema := r.Content.Get("application/json").Schema
	var v any
	if err := json.Unmarshal(a.body, &v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := c.doc.ValidateSchemaJSON(schema.Value, v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("the specAnswer does not match components.responses.%s: %w", name, err)
	}
	if extra := undocumented([]*openapi3.SchemaRef{schema}, v, "$"); len(extra) > 0 {
		return fmt.Errorf("%s: fields the spec does not list: %s", name, strings.Join(extra, ", "))
	}
	return nil
}

// checkAllow compares a 405's Allow header with the documented methods
// (and HEAD wherever GET is).
func checkAllow(item *openapi3.PathItem, allow string) error {
	var want []string
	for m := range item.Operations() {
		want = append(want, m)
		if m == http.MethodGet {
			want = append(want, http.MethodHead)
		}
	}
	sort.Strings(want)
	if got := strings.Join(want, ", "); got != allow {
		return fmt.Errorf("Allow is %q; the spec documents %q", allow, got)
	}
	return nil
}

// undocumented lists the object fields of v that none of the schemas ss
// names, so that the server cannot send a field the spec leaves out. The
// published schemas stay open (a new field does not break a client); this
// keeps them complete.
func undocumented(ss []*openapi3.SchemaRef, v any, at string) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		props := map[string][]*openapi3.SchemaRef{}
		var more []*openapi3.SchemaRef
		for _, s := range ss {
			collect(s, props, &more)
		}
		if len(props) == 0 && len(more) == 0 {
			return nil // a free-form object
		}
		for field, x := range v {
			subs, ok := props[field]
			if !ok {
				subs = more
			}
			if len(subs) == 0 {
				out = append(out, at+"."+field)
				continue
			}
			out = append(out, undocumented(subs, x, at+"."+field)...)
		}
	case []any:
		var items []*openapi3.SchemaRef
		for _, s := range ss {
			collectItems(s, &items)
		}
		for i, x := range v {
			out = append(out, undocumented(items, x, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	sort.Strings(out)
	return out
}

func subschemas(s *openapi3.Schema) []*openapi3.SchemaRef {
	return slices.Concat(s.AllOf, s.AnyOf, s.OneOf)
}

func collect(s *openapi3.SchemaRef, props map[string][]*openapi3.SchemaRef, more *[]*openapi3.SchemaRef) {
	if s == nil || s.Value == nil {
		return
	}
	for name, p := range s.Value.Properties {
		props[name] = append(props[name], p)
	}
	if a := s.Value.AdditionalProperties.Schema; a != nil {
		*more = append(*more, a)
	}
	for _, sub := range subschemas(s.Value) {
		collect(sub, props, more)
	}
}

func collectItems(s *openapi3.SchemaRef, items *[]*openapi3.SchemaRef) {
	if s == nil || s.Value == nil {
		return
	}
	if s.Value.Items != nil {
		*items = append(*items, s.Value.Items)
	}
	for _, sub := range subschemas(s.Value) {
		collectItems(sub, items)
	}
}
