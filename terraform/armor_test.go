package terraform

// Tests of the Cloud Armor policy (armor.tf) against the manifests it
// guards: this module reads ../knative (the BackendConfig that attaches the
// policy, the VirtualService that says which path reaches which function);
// the knative module never reads this one.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"
	"sigs.k8s.io/yaml"
)

// armorRule is one evaluated rule of the security policy.
type armorRule struct {
	priority int
	action   string
	preview  cty.Value // as written (null when unset)
	expr     string    // match.expr.expression ("" for a source-range rule)
	ranges   []string  // match.config.src_ip_ranges
	rate     map[string]cty.Value
}

func (r armorRule) String() string {
	m := r.expr
	if m == "" {
		m = fmt.Sprintf("src_ip_ranges %v", r.ranges)
	}
	return fmt.Sprintf("rule %d (%s: %s)", r.priority, r.action, m)
}

// refuses reports whether the rule can refuse a request (a deny, or a rate
// rule's exceed action).
func (r armorRule) refuses() bool {
	return strings.HasPrefix(r.action, "deny") || r.action == "rate_based_ban" || r.action == "throttle"
}

// armorRules evaluates the policy's rules, sorted by priority.
func armorRules(t *testing.T, m *module) (map[string]cty.Value, []armorRule) {
	t.Helper()
	attrs := m.only(t, m.resource(t, "google_compute_security_policy", "api"))
	rules, ok := attrs["rule"]
	if !ok {
		t.Fatal("google_compute_security_policy.api has no rules")
	}
	var out []armorRule
	seen := map[int]bool{}
	for it := rules.ElementIterator(); it.Next(); {
		_, v := it.Element()
		a := v.AsValueMap()
		for _, k := range []string{"priority", "action", "match"} {
			if _, ok := a[k]; !ok {
				t.Fatalf("a rule of google_compute_security_policy.api has no evaluated %s: %v", k, a)
			}
		}
		p, _ := a["priority"].AsBigFloat().Int64()
		r := armorRule{priority: int(p), action: a["action"].AsString(), preview: cty.NullVal(cty.Bool)}
		if pv, ok := a["preview"]; ok {
			r.preview = pv
		}
		if seen[r.priority] {
			t.Errorf("two rules have priority %d: Cloud Armor refuses the policy", r.priority)
		}
		seen[r.priority] = true
		match := a["match"].Index(cty.NumberIntVal(0)).AsValueMap()
		if e, ok := match["expr"]; ok {
			r.expr = e.Index(cty.NumberIntVal(0)).GetAttr("expression").AsString()
		}
		if c, ok := match["config"]; ok {
			for it := c.Index(cty.NumberIntVal(0)).GetAttr("src_ip_ranges").ElementIterator(); it.Next(); {
				_, s := it.Element()
				r.ranges = append(r.ranges, s.AsString())
			}
			if len(r.ranges) > 10 {
				t.Errorf("%v: %d ranges, Cloud Armor takes at most 10 per rule", r, len(r.ranges))
			}
		}
		if (r.expr == "") == (r.ranges == nil) {
			t.Errorf("rule %d: want either an expression or source ranges, have %q and %v", r.priority, r.expr, r.ranges)
		}
		if ro, ok := a["rate_limit_options"]; ok {
			r.rate = ro.Index(cty.NumberIntVal(0)).AsValueMap()
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].priority < out[j].priority })
	return attrs, out
}

// pathTerm is one term of the expressions armor.tf writes to match paths.
var pathTerm = regexp.MustCompile(`^request\.path(?: == '([^']*)'|\.startsWith\('([^']*)'\)|\.matches\('([^']*)'\))$`)

// mayMatch reports whether a rule could match a request for path, from any
// address with any body. Only expressions made of request.path terms joined
// by || are read; anything else (a WAF rule, a source range) may match any
// path, so the answer errs towards yes. CEL's matches() is RE2's unanchored
// search, as Go's MatchString.
func (r armorRule) mayMatch(t *testing.T, path string) bool {
	t.Helper()
	if r.expr == "" {
		return true
	}
	for _, term := range strings.Split(r.expr, " || ") {
		m := pathTerm.FindStringSubmatch(strings.TrimSpace(term))
		switch {
		case m == nil:
			return true
		case m[1] != "" && path == m[1], m[2] != "" && strings.HasPrefix(path, m[2]):
			return true
		case m[3] != "":
			re, err := regexp.Compile(m[3])
			if err != nil {
				t.Fatalf("%v: %v", r, err)
			}
			if re.MatchString(path) {
				return true
			}
		}
	}
	return false
}

// decides returns the rule that decides a request for path: the first, by
// priority, that may match it.
func decides(t *testing.T, rules []armorRule, path string) armorRule {
	t.Helper()
	for _, r := range rules {
		if r.mayMatch(t, path) {
			return r
		}
	}
	t.Fatalf("no rule matches %s: the default rule is missing", path)
	return armorRule{}
}

// readYAML decodes the documents of a file under ../knative.
func readYAML(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "knative", name))
	if err != nil {
		t.Fatalf("reading the manifests this module guards: %v", err)
	}
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(b), -1) {
		j, err := yaml.YAMLToJSON([]byte(d))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if string(j) != "null" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

// backendConfigPolicy is the security policy knative/ingress.yaml's
// BackendConfig names.
func backendConfigPolicy(t *testing.T) string {
	t.Helper()
	var names []string
	for _, d := range readYAML(t, "ingress.yaml") {
		var doc struct {
			Kind string `json:"kind"`
			Spec struct {
				SecurityPolicy struct {
					Name string `json:"name"`
				} `json:"securityPolicy"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(d, &doc); err != nil {
			t.Fatalf("ingress.yaml: %v", err)
		}
		if doc.Kind == "BackendConfig" {
			names = append(names, doc.Spec.SecurityPolicy.Name)
		}
	}
	if len(names) != 1 {
		t.Fatalf("knative/ingress.yaml: %d BackendConfigs naming policies %q, want one", len(names), names)
	}
	return names[0]
}

// routedPaths returns, per function, request paths that knative/routes.yaml
// sends to it: each exact path, each prefix as it is, and each regex
// instantiated with "x" for a [^/]+ segment, both with and without an
// optional (/.*)? tail.
func routedPaths(t *testing.T) map[string][]string {
	t.Helper()
	docs := readYAML(t, "routes.yaml")
	if len(docs) != 1 {
		t.Fatalf("knative/routes.yaml: %d documents, want the VirtualService alone", len(docs))
	}
	var vs struct {
		Spec struct {
			HTTP []struct {
				Name  string `json:"name"`
				Match []struct {
					URI *struct{ Exact, Prefix, Regex string } `json:"uri"`
				} `json:"match"`
				Rewrite *struct {
					Authority string `json:"authority"`
				} `json:"rewrite"`
			} `json:"http"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(docs[0], &vs); err != nil {
		t.Fatalf("routes.yaml: %v", err)
	}
	out := map[string][]string{}
	for _, r := range vs.Spec.HTTP {
		if r.Rewrite == nil {
			continue // the redirect
		}
		fn, _, _ := strings.Cut(r.Rewrite.Authority, ".")
		for _, mt := range r.Match {
			switch u := mt.URI; {
			case u == nil:
				t.Fatalf("route %s: a match without a path", r.Name)
			case u.Exact != "":
				out[fn] = append(out[fn], u.Exact)
			case u.Prefix != "":
				out[fn] = append(out[fn], u.Prefix)
			default:
				p := strings.TrimSuffix(strings.TrimPrefix(u.Regex, "^"), "$")
				p = strings.ReplaceAll(p, "[^/]+", "x")
				if strings.HasSuffix(p, "(/.*)?") {
					p = strings.TrimSuffix(p, "(/.*)?")
					out[fn] = append(out[fn], p+"/x")
				}
				if strings.ContainsAny(p, `^$()[]*+?\|`) {
					t.Fatalf("route %s: regex %q is beyond what the test instantiates", r.Name, u.Regex)
				}
				out[fn] = append(out[fn], p)
			}
		}
	}
	return out
}

func TestCloudArmorPolicy(t *testing.T) {
	m := loadModule(t)
	attrs, rules := armorRules(t, m)
	const addr = "google_compute_security_policy.api"
	if got, want := str(t, addr, attrs, "name"), backendConfigPolicy(t); got != want {
		t.Errorf("%s is named %q, but knative/ingress.yaml's BackendConfig attaches %q", addr, got, want)
	}
	wantAttr(t, addr, attrs, "type", cty.StringVal("CLOUD_ARMOR"))
	l7 := nested(t, addr+".adaptive_protection_config", nested(t, addr, attrs, "adaptive_protection_config"), "layer_7_ddos_defense_config")
	wantAttr(t, addr+".adaptive_protection_config.layer_7_ddos_defense_config", l7, "enable", cty.True)
	// JSON bodies are inspected value by value, not as text full of the
	// quotes and braces SQL and XSS signatures look for.
	wantAttr(t, addr+".advanced_options_config", nested(t, addr, attrs, "advanced_options_config"), "json_parsing", cty.StringVal("STANDARD"))

	for _, r := range rules {
		if r.priority != 2147483647 && !r.preview.RawEquals(cty.False) {
			t.Errorf("%v: preview = %s, want false written out: every rule enforces", r, show(r.preview))
		}
	}
	if last := rules[len(rules)-1]; last.priority != 2147483647 || last.action != "allow" || !slices.Equal(last.ranges, []string{"*"}) {
		t.Errorf("last rule %v, want the default rule: priority 2147483647, allow, *", last)
	}

	// Each preconfigured WAF rule once, in a rule of its own, refusing,
	// at the sensitivity armor.tf documents for a JSON API.
	waf := regexp.MustCompile(`^evaluatePreconfiguredWaf\('([a-z]+)-v33-stable', \{'sensitivity': ([0-4])\}\)$`)
	found := map[string]int{}
	for _, r := range rules {
		mt := waf.FindStringSubmatch(r.expr)
		if mt == nil {
			if strings.Contains(r.expr, "evaluatePreconfigured") {
				t.Errorf("%v: a WAF rule not in the form evaluatePreconfiguredWaf('<set>-v33-stable', {'sensitivity': N})", r)
			}
			continue
		}
		if _, dup := found[mt[1]]; dup {
			t.Errorf("%s-v33-stable appears in two rules", mt[1])
		}
		found[mt[1]], _ = strconv.Atoi(mt[2])
		if r.action != "deny(403)" {
			t.Errorf("%v: a WAF rule must refuse with deny(403)", r)
		}
	}
	for set, want := range map[string]int{"sqli": 1, "xss": 1, "lfi": 1, "rce": 1, "scannerdetection": 1, "protocolattack": 1} {
		if got, ok := found[set]; !ok {
			t.Errorf("no rule evaluates %s-v33-stable", set)
		} else if got != want {
			t.Errorf("%s-v33-stable at sensitivity %d, want %d (armor.tf says why)", set, got, want)
		}
	}

	// Per-IP rate rules over the paths routes.yaml sends to each function:
	// a ban on acquire and on every admin function's paths (and the links
	// mails carry), a throttle at least on the session calls.
	admin := map[string]bool{}
	for _, f := range contractFunctions {
		admin[f.name] = f.admin
	}
	byFunction := routedPaths(t)
	for _, fn := range []string{"acquire", "heartbeat", "tenants", "notifications", "health"} {
		if len(byFunction[fn]) == 0 {
			t.Fatalf("routes.yaml sends no path to %s: the test no longer reads it right", fn)
		}
	}
	for fn, paths := range byFunction {
		for _, p := range paths {
			if p == "/v1/billing/stripe/webhook" {
				// Stripe's: throttled, never banned or inspected.
				if r := decides(t, rules, p); r.action != "throttle" {
					t.Errorf("Stripe's webhook %s is decided by %v, want the throttle before the WAF rules", p, r)
				}
				continue
			}
			var want []string
			switch {
			case fn == "acquire" || admin[fn]:
				want = []string{"rate_based_ban"}
			case fn == "heartbeat" || fn == "release":
				want = []string{"rate_based_ban", "throttle"}
			default:
				continue
			}
			var rate *armorRule
			for i, r := range rules {
				if r.rate != nil && r.mayMatch(t, p) && r.expr != "" {
					rate = &rules[i]
					break
				}
			}
			switch {
			case rate == nil || !slices.Contains(want, rate.action):
				t.Errorf("%s (%s): first rate rule %v, want one of %v", p, fn, rate, want)
			case !rate.rate["enforce_on_key"].RawEquals(cty.StringVal("IP")):
				t.Errorf("%v: enforce_on_key = %s, want IP", rate, show(rate.rate["enforce_on_key"]))
			case !rate.rate["exceed_action"].RawEquals(cty.StringVal("deny(429)")) || !rate.rate["conform_action"].RawEquals(cty.StringVal("allow")):
				t.Errorf("%v: want conform allow, exceed deny(429) (the SDK backs off from a 429)", rate)
			}
		}
	}
	for _, r := range rules {
		if r.rate == nil {
			continue
		}
		th := r.rate["rate_limit_threshold"].Index(cty.NumberIntVal(0))
		n, _ := th.GetAttr("count").AsBigFloat().Int64()
		if r.action == "rate_based_ban" {
			// Cloud Armor's bounds for a ban, and a ban needs its length.
			if n < 1 || n > 10000 {
				t.Errorf("%v: threshold %d, Cloud Armor takes 1 to 10,000 for a ban", r, n)
			}
			if d, ok := r.rate["ban_duration_sec"]; !ok || d.IsNull() {
				t.Errorf("%v: no ban_duration_sec", r)
			}
		}
	}

	// The health paths: the rule that decides them allows, and comes
	// before every rule that may refuse them (deny lists, WAF, rate rules).
	checkHealthFirst(t, rules, byFunction["health"])
}

// checkHealthFirst: for every path routes.yaml sends to Health, the first
// rule that may match is an allow, numbered below every rule that may
// refuse it.
func checkHealthFirst(t *testing.T, rules []armorRule, paths []string) {
	t.Helper()
	for _, p := range paths {
		first := decides(t, rules, p)
		if first.action != "allow" || first.expr == "" {
			t.Errorf("%s is decided by %v, want the health paths' allow rule", p, first)
			continue
		}
		for _, r := range rules {
			if r.refuses() && r.mayMatch(t, p) && r.priority <= first.priority {
				t.Errorf("%s: %v may refuse it and comes before the allow (%d)", p, r, first.priority)
			}
		}
	}
}

// TestCloudArmorListsAreChunkedAndOrdered: with ranges in both lists (more
// than one rule's worth), the deny list comes right after the health paths
// and before the WAF, the allow list after the WAF and before the rate
// rules, 10 ranges per rule and none lost; the health paths still come
// first.
func TestCloudArmorListsAreChunkedAndOrdered(t *testing.T) {
	m := loadModule(t)
	var deny, allow []cty.Value
	for i := range 23 {
		deny = append(deny, cty.StringVal(fmt.Sprintf("198.51.%d.0/24", i)))
	}
	for i := range 11 {
		allow = append(allow, cty.StringVal(fmt.Sprintf("2001:db8:%x::/48", i)))
	}
	m.vars["armor_deny_ranges"] = cty.ListVal(deny)
	m.vars["armor_allow_ranges"] = cty.ListVal(allow)
	m.settle(t)
	_, rules := armorRules(t, m)

	var gotDeny, gotAllow []string
	var denyPri, allowPri, wafPri, ratePri []int
	for _, r := range rules {
		switch {
		case r.ranges != nil && r.action == "deny(403)":
			gotDeny = append(gotDeny, r.ranges...)
			denyPri = append(denyPri, r.priority)
		case r.ranges != nil && r.action == "allow" && r.priority != 2147483647:
			gotAllow = append(gotAllow, r.ranges...)
			allowPri = append(allowPri, r.priority)
		case strings.HasPrefix(r.expr, "evaluatePreconfiguredWaf"):
			wafPri = append(wafPri, r.priority)
		case r.action == "rate_based_ban" || (r.action == "throttle" && r.priority > 2000):
			ratePri = append(ratePri, r.priority)
		}
	}
	strs := func(vs []cty.Value) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.AsString())
		}
		return out
	}
	if !slices.Equal(gotDeny, strs(deny)) || len(denyPri) != 3 {
		t.Errorf("deny rules (%d) hold %v, want %v in 3 rules", len(denyPri), gotDeny, strs(deny))
	}
	if !slices.Equal(gotAllow, strs(allow)) || len(allowPri) != 2 {
		t.Errorf("allow rules (%d) hold %v, want %v in 2 rules", len(allowPri), gotAllow, strs(allow))
	}
	if len(wafPri) == 0 || len(ratePri) == 0 {
		t.Fatalf("WAF rules %v, rate rules %v", wafPri, ratePri)
	}
	if slices.Max(denyPri) >= slices.Min(wafPri) || slices.Max(wafPri) >= slices.Min(allowPri) || slices.Max(allowPri) >= slices.Min(ratePri) {
		t.Errorf("order: deny %v, WAF %v, allow %v, rate %v; want deny < WAF < allow < rate", denyPri, wafPri, allowPri, ratePri)
	}
	checkHealthFirst(t, rules, routedPaths(t)["health"])
}

// TestCloudArmorListsAreValidated: the lists' validations refuse what
// Cloud Armor would (not a CIDR) and what would be a mistake (a /0 denies
// or exempts everyone; more than 50 ranges), and accept IPv4 and IPv6.
func TestCloudArmorListsAreValidated(t *testing.T) {
	m := loadModule(t)
	list := func(rs ...string) cty.Value {
		if len(rs) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		var vs []cty.Value
		for _, r := range rs {
			vs = append(vs, cty.StringVal(r))
		}
		return cty.ListVal(vs)
	}
	var many []string
	for i := range 51 {
		many = append(many, fmt.Sprintf("203.0.113.%d/32", i))
	}
	for _, name := range []string{"armor_deny_ranges", "armor_allow_ranges"} {
		for _, c := range []struct {
			v  cty.Value
			ok bool
		}{
			{list(), true},
			{list("198.51.100.0/24", "2001:db8::/32", "203.0.113.7/32"), true},
			{list(many[:50]...), true},
			{list(many...), false},
			{list("198.51.100.0"), false},
			{list("198.51.100.0/33"), false},
			{list("example.com/24"), false},
			{list("0.0.0.0/0"), false},
			{list("::/0"), false},
			{list("*"), false},
		} {
			if got := validates(t, m, name, c.v); got != c.ok {
				t.Errorf("%s = %s: valid %v, want %v", name, show(c.v), got, c.ok)
			}
		}
	}
}

// validates evaluates every validation of variable name with value v.
func validates(t *testing.T, m *module, name string, v cty.Value) bool {
	t.Helper()
	for _, b := range m.blocks("variable") {
		if b.Labels[0] != name {
			continue
		}
		ctx := m.context()
		vars := map[string]cty.Value{}
		for k, val := range m.vars {
			vars[k] = val
		}
		vars[name] = v
		ctx.Variables["var"] = cty.ObjectVal(vars)
		n := 0
		for _, vb := range b.Body.Blocks {
			if vb.Type != "validation" {
				continue
			}
			n++
			ok, diags := vb.Body.Attributes["condition"].Expr.Value(ctx)
			if diags.HasErrors() {
				t.Fatalf("variable %s: validation of %s: %s", name, show(v), diags.Error())
			}
			if ok.False() {
				return false
			}
		}
		if n == 0 {
			t.Fatalf("variable %s has no validation", name)
		}
		return true
	}
	t.Fatalf("no variable %s", name)
	return false
}
