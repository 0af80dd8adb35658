package terraform

// A small evaluator for this Terraform module, enough for the tests to see
// what the configuration grants and emits without the provider plugins
// (which cannot be downloaded where the tests run). It parses every .tf
// file, evaluates variables (defaults plus test values), locals and every
// resource's attributes in the module's own terms, and stands in for the
// values only Google would know (e-mail addresses, ids, IPs) with fixed,
// recognisable mock values built the way the provider documents them.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Test inputs and the mock values that stand in for what Google assigns.
const (
	testProject       = "test-project"
	testDNSZone       = "coditect-zone"
	mockProjectNumber = "123456789012"
	mockSQLIP         = "10.100.0.3"
	mockSQLDNSName    = "0123abcd.us-central1.sql.goog."
	mockSQLCA         = "-----BEGIN CERTIFICATE-----\nmock Cloud SQL server CA\n-----END CERTIFICATE-----\n"
	mockRedisHost     = "10.100.1.4"
	mockRedisTLSPort  = 6378
	mockRedisAuth     = "mock-redis-auth-string"
	mockAPIAddress    = "203.0.113.10"
	mockBrowserKey    = "AIzaSyMockBrowserKeyForTheConsole000000"
)

// mockSubscription is the subscription Eventarc creates for the named
// trigger: each its own, so a test can tell whose a grant is on.
func mockSubscription(trigger string) string {
	return "projects/" + testProject + "/subscriptions/eventarc-" + trigger + "-mock-sub"
}

// mockRandomBytes is random_bytes's base64 result for one instance.
func mockRandomBytes(name, key string) string {
	return base64.StdEncoding.EncodeToString([]byte("mock-random-bytes-" + name + "[" + key + "]"))
}

var mockRedisCAs = []string{
	"-----BEGIN CERTIFICATE-----\nMOCKCA1\n-----END CERTIFICATE-----\n",
	"-----BEGIN CERTIFICATE-----\nMOCKCA2\n-----END CERTIFICATE-----\n",
}

// tfFile is one parsed .tf file.
type tfFile struct {
	path string
	src  []byte
	body *hclsyntax.Body
}

// resource is one resource or data block.
type resource struct {
	mode  string // "resource" or "data"
	typ   string
	name  string
	block *hclsyntax.Block
	file  *tfFile
}

func (r *resource) addr() string {
	if r.mode == "data" {
		return "data." + r.typ + "." + r.name
	}
	return r.typ + "." + r.name
}

// instance is one evaluated instance of a resource (one per for_each key).
type instance struct {
	key   string // "" without for_each
	attrs map[string]cty.Value
}

type module struct {
	files     []*tfFile
	resources []*resource
	localExpr map[string]*hclsyntax.Attribute

	vars      map[string]cty.Value
	overrides map[string]cty.Value // set over the defaults (with)
	locals    map[string]cty.Value
	instances map[string][]instance // by resource address
}

// loadModule parses every .tf file of this directory, failing the test on
// any diagnostic, then evaluates what it can.
func loadModule(t *testing.T) *module {
	t.Helper()
	paths, err := filepath.Glob("*.tf")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no .tf files found beside the test")
	}
	sort.Strings(paths)
	m := &module{localExpr: map[string]*hclsyntax.Attribute{}}
	parser := hclparse.NewParser()
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := parser.ParseHCL(src, p)
		if diags.HasErrors() {
			t.Fatalf("parsing %s: %s", p, diags.Error())
		}
		body, ok := f.Body.(*hclsyntax.Body)
		if !ok {
			t.Fatalf("%s: not native HCL syntax", p)
		}
		file := &tfFile{path: p, src: src, body: body}
		m.files = append(m.files, file)
		for _, b := range body.Blocks {
			switch b.Type {
			case "resource", "data":
				if len(b.Labels) != 2 {
					t.Fatalf("%s: %s block with labels %q", p, b.Type, b.Labels)
				}
				m.resources = append(m.resources, &resource{mode: b.Type, typ: b.Labels[0], name: b.Labels[1], block: b, file: file})
			case "locals":
				for name, a := range b.Body.Attributes {
					if _, dup := m.localExpr[name]; dup {
						t.Fatalf("%s: local.%s defined twice", p, name)
					}
					m.localExpr[name] = a
				}
			}
		}
	}
	m.evaluate(t)
	return m
}

// blocks returns the top-level blocks of a type (variable, output, …).
func (m *module) blocks(typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, f := range m.files {
		for _, b := range f.body.Blocks {
			if b.Type == typ {
				out = append(out, b)
			}
		}
	}
	return out
}

// resourcesOf returns every resource (not data) block of a type.
func (m *module) resourcesOf(typ string) []*resource {
	var out []*resource
	for _, r := range m.resources {
		if r.mode == "resource" && r.typ == typ {
			out = append(out, r)
		}
	}
	return out
}

// resource returns the one resource typ.name, failing the test without it.
func (m *module) resource(t *testing.T, typ, name string) *resource {
	t.Helper()
	for _, r := range m.resources {
		if r.mode == "resource" && r.typ == typ && r.name == name {
			return r
		}
	}
	t.Fatalf("resource %s.%s not found", typ, name)
	return nil
}

// only returns the single instance of a resource without for_each.
func (m *module) only(t *testing.T, r *resource) map[string]cty.Value {
	t.Helper()
	insts := m.instances[r.addr()]
	if len(insts) != 1 || insts[0].key != "" {
		t.Fatalf("%s: want exactly one instance without for_each, have %d", r.addr(), len(insts))
	}
	return insts[0].attrs
}

// evaluate works out variables, locals and resource attributes, repeating
// until nothing more can be evaluated (they refer to one another in any
// order).
// with evaluates the module again with these variables set (the locals
// and resources that depend on them included).
func (m *module) with(t *testing.T, vars map[string]cty.Value) *module {
	t.Helper()
	m.overrides = vars
	m.evaluate(t)
	return m
}

func (m *module) evaluate(t *testing.T) {
	t.Helper()
	m.vars = map[string]cty.Value{}
	for _, b := range m.blocks("variable") {
		name := b.Labels[0]
		if a, ok := b.Body.Attributes["default"]; ok {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() {
				t.Fatalf("variable %q: default is not a literal: %s", name, diags.Error())
			}
			m.vars[name] = v
		}
	}
	m.vars["project_id"] = cty.StringVal(testProject)
	m.vars["dns_zone_name"] = cty.StringVal(testDNSZone)
	maps.Copy(m.vars, m.overrides)
	m.settle(t)
}

// settle evaluates locals and resources from m.vars afresh, so a test that
// sets variables sees what they change.
func (m *module) settle(t *testing.T) {
	t.Helper()
	m.locals = map[string]cty.Value{}
	m.instances = map[string][]instance{}
	prev := -1
	for pass := 0; pass < 20; pass++ {
		ctx := m.context()
		for name, a := range m.localExpr {
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() {
				m.locals[name] = v
			}
		}
		for _, r := range m.resources {
			if insts, ok := m.evalResource(ctx, r); ok {
				m.instances[r.addr()] = insts
			}
		}
		n := len(m.locals)
		for _, insts := range m.instances {
			for _, in := range insts {
				n += len(in.attrs) + 1
			}
		}
		if n == prev {
			return
		}
		prev = n
	}
	t.Fatal("evaluation did not settle after 20 passes")
}

// context is the evaluation context of the module's current values.
func (m *module) context() *hcl.EvalContext {
	roots := map[string]map[string]cty.Value{}
	data := map[string]map[string]cty.Value{}
	for _, r := range m.resources {
		insts, ok := m.instances[r.addr()]
		if !ok {
			continue
		}
		var v cty.Value
		if len(insts) == 1 && insts[0].key == "" {
			v = cty.ObjectVal(insts[0].attrs)
		} else {
			byKey := map[string]cty.Value{}
			for _, in := range insts {
				byKey[in.key] = cty.ObjectVal(in.attrs)
			}
			v = cty.ObjectVal(byKey)
		}
		target := roots
		if r.mode == "data" {
			target = data
		}
		if target[r.typ] == nil {
			target[r.typ] = map[string]cty.Value{}
		}
		target[r.typ][r.name] = v
	}
	vars := map[string]cty.Value{
		"var":   cty.ObjectVal(m.vars),
		"local": cty.ObjectVal(m.locals),
	}
	dataObj := map[string]cty.Value{}
	for typ, byName := range data {
		dataObj[typ] = cty.ObjectVal(byName)
	}
	vars["data"] = cty.ObjectVal(dataObj)
	for typ, byName := range roots {
		vars[typ] = cty.ObjectVal(byName)
	}
	return &hcl.EvalContext{Variables: vars, Functions: functions}
}

// evalResource evaluates a resource's instances; false while its for_each
// cannot be evaluated yet.
func (m *module) evalResource(ctx *hcl.EvalContext, r *resource) ([]instance, bool) {
	fe, hasForEach := r.block.Body.Attributes["for_each"]
	if !hasForEach {
		return []instance{{attrs: m.evalInstance(ctx, r, "")}}, true
	}
	v, diags := fe.Expr.Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return nil, false
	}
	var insts []instance
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		if v.Type().IsSetType() {
			k = val
		}
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{
			"each": cty.ObjectVal(map[string]cty.Value{"key": k, "value": val}),
		}
		insts = append(insts, instance{key: k.AsString(), attrs: m.evalInstance(child, r, k.AsString())})
	}
	return insts, true
}

func (m *module) evalInstance(ctx *hcl.EvalContext, r *resource, key string) map[string]cty.Value {
	attrs := evalBody(ctx, r.block.Body)
	// Terraform's own arguments, at the resource's top level only (a
	// nested block may have an attribute named count).
	for name := range metaArguments {
		delete(attrs, name)
	}
	computed(r, attrs, key)
	return attrs
}

// metaArguments are Terraform's, not the resource's.
var metaArguments = map[string]bool{"for_each": true, "count": true, "depends_on": true, "provider": true}

// evalBody evaluates a body's attributes (those that can be evaluated now)
// and its nested blocks, each block type as a tuple of objects.
func evalBody(ctx *hcl.EvalContext, body *hclsyntax.Body) map[string]cty.Value {
	out := map[string]cty.Value{}
	for name, a := range body.Attributes {
		if v, diags := a.Expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() {
			out[name] = v
		}
	}
	nested := map[string][]cty.Value{}
	for _, b := range body.Blocks {
		switch b.Type {
		case "lifecycle":
		case "dynamic":
			// One block per element of for_each, in its order, after the
			// static blocks of the same type: what Terraform sends (a
			// security policy's rules are then ordered by priority anyway).
			nested[b.Labels[0]] = append(nested[b.Labels[0]], expandDynamic(ctx, b)...)
		default:
			nested[b.Type] = append(nested[b.Type], cty.ObjectVal(evalBody(ctx, b.Body)))
		}
	}
	for typ, vs := range nested {
		out[typ] = cty.TupleVal(vs)
	}
	return out
}

// expandDynamic evaluates a dynamic block's content once per element of its
// for_each, with the iterator (the block's label unless `iterator` names
// another) bound to {key, value}; nothing while for_each is unknown.
func expandDynamic(ctx *hcl.EvalContext, b *hclsyntax.Block) []cty.Value {
	fe, ok := b.Body.Attributes["for_each"]
	if !ok {
		return nil
	}
	v, diags := fe.Expr.Value(ctx)
	if diags.HasErrors() || !v.IsWhollyKnown() || v.IsNull() {
		return nil
	}
	name := b.Labels[0]
	if it, ok := b.Body.Attributes["iterator"]; ok {
		name = hcl.ExprAsKeyword(it.Expr)
	}
	var content *hclsyntax.Body
	for _, c := range b.Body.Blocks {
		if c.Type == "content" {
			content = c.Body
		}
	}
	if content == nil {
		return nil
	}
	var out []cty.Value
	for it := v.ElementIterator(); it.Next(); {
		k, val := it.Element()
		if v.Type().IsSetType() {
			k = val
		}
		child := ctx.NewChild()
		child.Variables = map[string]cty.Value{name: cty.ObjectVal(map[string]cty.Value{"key": k, "value": val})}
		out = append(out, cty.ObjectVal(evalBody(child, content)))
	}
	return out
}

// computed adds the attributes Google assigns, as mock values built the way
// the provider documents them.
func computed(r *resource, attrs map[string]cty.Value, key string) {
	s := func(name string) (string, bool) {
		v, ok := attrs[name]
		if !ok || v.IsNull() || !v.Type().Equals(cty.String) {
			return "", false
		}
		return v.AsString(), true
	}
	set := func(name, value string) { attrs[name] = cty.StringVal(value) }
	p := "projects/" + testProject
	switch r.typ {
	case "google_project":
		set("number", mockProjectNumber)
	case "google_service_account":
		if id, ok := s("account_id"); ok {
			email := id + "@" + testProject + ".iam.gserviceaccount.com"
			set("email", email)
			set("name", p+"/serviceAccounts/"+email)
			set("id", p+"/serviceAccounts/"+email)
			set("member", "serviceAccount:"+email)
		}
	case "google_secret_manager_secret":
		if id, ok := s("secret_id"); ok {
			set("id", p+"/secrets/"+id)
			set("name", p+"/secrets/"+id)
		}
	case "google_kms_key_ring":
		loc, ok1 := s("location")
		name, ok2 := s("name")
		if ok1 && ok2 {
			set("id", p+"/locations/"+loc+"/keyRings/"+name)
		}
	case "google_kms_crypto_key":
		ring, ok1 := s("key_ring")
		name, ok2 := s("name")
		if ok1 && ok2 {
			set("id", ring+"/cryptoKeys/"+name)
		}
	case "google_sql_database_instance":
		set("private_ip_address", mockSQLIP)
		set("dns_name", mockSQLDNSName)
		attrs["server_ca_cert"] = cty.ListVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{"cert": cty.StringVal(mockSQLCA)})})
	case "google_redis_instance":
		set("host", mockRedisHost)
		attrs["port"] = cty.NumberIntVal(mockRedisTLSPort)
		set("auth_string", mockRedisAuth)
		var certs []cty.Value
		for _, c := range mockRedisCAs {
			certs = append(certs, cty.ObjectVal(map[string]cty.Value{"cert": cty.StringVal(c)}))
		}
		attrs["server_ca_certs"] = cty.ListVal(certs)
	case "google_pubsub_topic":
		if name, ok := s("name"); ok {
			set("id", p+"/topics/"+name)
		}
	case "google_apikeys_key":
		set("key_string", mockBrowserKey)
		set("uid", "00000000-0000-4000-8000-00000000c0de")
	case "google_compute_global_address":
		set("address", mockAPIAddress)
	case "google_compute_network":
		if name, ok := s("name"); ok {
			set("id", p+"/global/networks/"+name)
		}
	case "google_artifact_registry_repository":
		if id, ok := s("repository_id"); ok {
			set("name", id)
		}
	case "google_eventarc_trigger":
		trigger, _ := s("name")
		topic := cty.NullVal(cty.String)
		if tr, ok := attrs["transport"]; ok && tr.LengthInt() == 1 {
			if t := tr.Index(cty.NumberIntVal(0)); t.Type().HasAttribute("pubsub") {
				if ps := t.GetAttr("pubsub"); ps.LengthInt() == 1 && ps.Index(cty.NumberIntVal(0)).Type().HasAttribute("topic") {
					topic = ps.Index(cty.NumberIntVal(0)).GetAttr("topic")
				}
			}
		}
		attrs["transport"] = cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
			"pubsub": cty.TupleVal([]cty.Value{cty.ObjectVal(map[string]cty.Value{
				"topic":        topic,
				"subscription": cty.StringVal(mockSubscription(trigger)),
			})}),
		})})
	case "random_bytes":
		set("base64", mockRandomBytes(r.name, key))
	case "random_password":
		// Each instance its own, so a test can tell them apart.
		if key != "" {
			set("result", "mock-random-"+r.name+"["+key+"]")
		} else {
			set("result", "mock-random-"+r.name)
		}
	}
	if _, ok := attrs["id"]; !ok {
		set("id", r.addr()+"/"+key)
	}
}

// functions are the Terraform functions this module calls. Terraform's own
// implementations are not a Go library; these behave the same on the values
// used here. yamlencode renders JSON, which is YAML: the tests read the
// structure, not the layout.
var functions = map[string]function.Function{
	"base64encode": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "s", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
		},
	}),
	// alltrue, cidrhost and endswith behave as Terraform's do on the
	// values variables' validations see.
	"alltrue": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			for it := args[0].ElementIterator(); it.Next(); {
				if _, v := it.Element(); v.IsNull() || v.False() {
					return cty.False, nil
				}
			}
			return cty.True, nil
		},
	}),
	"can":       tryfunc.CanFunc,
	"chunklist": stdlib.ChunklistFunc,
	"cidrhost": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			_, n, err := net.ParseCIDR(args[0].AsString())
			if err != nil {
				return cty.UnknownVal(cty.String), fmt.Errorf("invalid CIDR expression: %w", err)
			}
			if !args[1].RawEquals(cty.Zero) {
				return cty.UnknownVal(cty.String), errors.New("the tests only need host number 0")
			}
			return cty.StringVal(n.IP.String()), nil
		},
	}),
	"endswith": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "suffix", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(strings.HasSuffix(args[0].AsString(), args[1].AsString())), nil
		},
	}),
	"floor":      stdlib.FloorFunc,
	"coalesce":   stdlib.CoalesceFunc,
	"concat":     stdlib.ConcatFunc,
	"contains":   stdlib.ContainsFunc,
	"flatten":    stdlib.FlattenFunc,
	"join":       stdlib.JoinFunc,
	"jsonencode": stdlib.JSONEncodeFunc,
	"keys":       stdlib.KeysFunc,
	"length":     stdlib.LengthFunc,
	"merge":      stdlib.MergeFunc,
	"trimsuffix": stdlib.TrimSuffixFunc,
	"toset": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.Set(cty.String)),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return convert.Convert(args[0], cty.Set(cty.String))
		},
	}),
	"tostring": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return convert.Convert(args[0], cty.String)
		},
	}),
	"yamlencode": stdlib.JSONEncodeFunc,
}

// grant is one evaluated IAM grant: a role for a member on a resource.
type grant struct {
	res    *resource
	key    string
	role   string
	member string
	attrs  map[string]cty.Value
}

func (g grant) String() string {
	addr := g.res.addr()
	if g.key != "" {
		addr += fmt.Sprintf("[%q]", g.key)
	}
	return fmt.Sprintf("%s (%s): %s to %s", addr, g.res.file.path, g.role, g.member)
}

var iamResource = regexp.MustCompile(`^google_.+_iam_(member|binding|policy)$`)

// grants evaluates every IAM resource of the module. A grant whose role or
// member cannot be evaluated fails the test: every grant must be known.
func (m *module) grants(t *testing.T) []grant {
	t.Helper()
	var out []grant
	for _, r := range m.resources {
		if r.mode != "resource" || !iamResource.MatchString(r.typ) {
			continue
		}
		if strings.HasSuffix(r.typ, "_iam_policy") {
			t.Errorf("%s (%s): authoritative IAM policies replace every other grant on the resource; use _iam_member", r.addr(), r.file.path)
			continue
		}
		insts, ok := m.instances[r.addr()]
		if !ok {
			t.Fatalf("%s (%s): for_each could not be evaluated", r.addr(), r.file.path)
		}
		for _, in := range insts {
			role, ok := in.attrs["role"]
			if !ok {
				t.Fatalf("%s[%q] (%s): role could not be evaluated", r.addr(), in.key, r.file.path)
			}
			var members []cty.Value
			if mv, ok := in.attrs["member"]; ok {
				members = []cty.Value{mv}
			} else if mv, ok := in.attrs["members"]; ok {
				members = mv.AsValueSlice()
			} else {
				t.Fatalf("%s[%q] (%s): member could not be evaluated", r.addr(), in.key, r.file.path)
			}
			for _, mv := range members {
				out = append(out, grant{res: r, key: in.key, role: role.AsString(), member: mv.AsString(), attrs: in.attrs})
			}
		}
	}
	return out
}

// source is the text of an expression as written.
func (m *module) source(r *resource, e hclsyntax.Expression) string {
	return string(e.Range().SliceBytes(r.file.src))
}
