package terraform

// Tests of monitoring.tf: every PromQL expression (alert conditions and the
// dashboard generated from the Grafana JSON) is parsed with Prometheus's own
// parser, and each metric, label and function it names is checked against
// what the service exports (metrics.Catalog, the main module's own
// instruments) and deploys (knative/), so a renamed metric or label fails
// here rather than leaving an alert that never fires. The alerts, SLOs,
// burn-rate alerts and uptime checks are checked for the settings the
// runbook relies on.

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/coditect-ai/license-server/shared/metrics"
)

const (
	grafanaPath       = "../knative/monitoring/grafana-dashboard.json"
	podMonitoringPath = "../knative/monitoring/podmonitoring.yaml"
	servicesGlob      = "../knative/services/*.yaml"
)

// requiredAlerts are the PromQL alerts the README's alert table lists, by
// key of local.prometheus_alerts, with the comparison that fires them and
// how long it must hold (0 when the query's own window says it).
var requiredAlerts = map[string]struct {
	op        string
	threshold float64 // -1: 80 % of local.alert_sql_max_connections
	duration  string
}{
	"acquire_heartbeat_5xx": {">", 0.01, "300s"},
	"acquire_latency_p99":   {">", 0.25, "600s"},
	"redis_errors":          {">", 0.01, "300s"},
	"postgres_errors":       {">", 0.05, "600s"},
	"ledger_drain_lag":      {">", 300, "60s"},
	"cleanup_failing":       {">=", 2.5, "0s"},
	"memorystore_memory":    {">", 0.8, "300s"},
	"sql_connections":       {">", -1, "300s"},
	"certificate_expiry":    {"<", 14, "600s"},
}

// gmpTargetLabels are the labels Managed Service for Prometheus adds to
// every scraped series (the prometheus_target resource, and the
// PodMonitoring's default pod metadata); the PodMonitoring's own target
// labels are read from its file.
var gmpTargetLabels = []string{"project_id", "location", "cluster", "namespace", "job", "instance", "pod", "container",
	"top_level_controller_name", "top_level_controller_type"}

// googleMetrics are the Cloud Monitoring metrics of Google's services the
// alerts query in their PromQL form (name with ':' for the first '/',
// monitored_resource and the resource and metric labels as labels). They
// cannot be checked against anything offline: this list is copied from
// Cloud Monitoring's metric lists (redis_instance, cloudsql_database,
// uptime_url), and a query naming anything else fails.
var googleMetrics = map[string][]string{
	"redis_googleapis_com:stats_memory_usage_ratio": {"monitored_resource", "project_id", "region", "instance_id", "node_id"},
	"cloudsql_googleapis_com:database_postgresql_num_backends": {"monitored_resource", "project_id", "region", "database_id",
		"database"},
	"monitoring_googleapis_com:uptime_check_time_until_ssl_cert_expires": {"monitored_resource", "project_id", "host",
		"check_id", "checker_location"},
}

// exported is what PromQL may select: series names with their labels, the
// metric families by name (for Cloud Monitoring filters) and the function
// label's values.
type exported struct {
	series    map[string][]string
	families  map[string]metrics.Family
	functions []string
}

func loadExported(t *testing.T) exported {
	t.Helper()
	fams, err := metrics.Catalog(context.Background())
	if err != nil {
		t.Fatalf("metrics.Catalog: %v", err)
	}
	pm, err := os.ReadFile(podMonitoringPath)
	if err != nil {
		t.Fatal(err)
	}
	target := slices.Clone(gmpTargetLabels)
	for _, g := range regexp.MustCompile(`(?m)^\s*to:\s*(\S+)\s*$`).FindAllSubmatch(pm, -1) {
		target = append(target, string(g[1]))
	}
	e := exported{series: map[string][]string{}, families: fams}
	for name, f := range fams {
		labels := append(slices.Clone(f.Labels), target...)
		if f.Type != "histogram" {
			e.series[name] = labels
			continue
		}
		e.series[name+"_bucket"] = append(slices.Clone(labels), "le")
		e.series[name+"_sum"] = labels
		e.series[name+"_count"] = labels
	}
	for name, labels := range googleMetrics {
		e.series[name] = labels
	}

	// The function label is FUNCTION_TARGET of the service that served the
	// request, "none" for an unknown path and "background" for work no
	// request started.
	paths, err := filepath.Glob(servicesGlob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Knative services at %s (%v)", servicesGlob, err)
	}
	target1 := regexp.MustCompile(`name: FUNCTION_TARGET\s*\n\s*value: (\S+)`)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range target1.FindAllSubmatch(b, -1) {
			e.functions = append(e.functions, string(g[1]))
		}
	}
	e.functions = append(e.functions, "none", metrics.Background)
	return e
}

// query is one PromQL expression and where it was found.
type query struct {
	where, expr string
	alert       string // the local.prometheus_alerts key, for alert conditions of that resource
	duration    string
}

// alertQueries returns the PromQL of every condition_prometheus_query_language
// block of every alert policy, failing when one cannot be evaluated (an
// unevaluated query would otherwise go unchecked), and how many such blocks
// the configuration declares.
func alertQueries(t *testing.T, m *module) []query {
	t.Helper()
	var out []query
	for _, r := range m.resourcesOf("google_monitoring_alert_policy") {
		declared := 0
		for _, c := range r.block.Body.Blocks {
			if c.Type != "conditions" {
				continue
			}
			for _, b := range c.Body.Blocks {
				if b.Type == "condition_prometheus_query_language" {
					declared++
				}
			}
		}
		insts, ok := m.instances[r.addr()]
		if !ok {
			t.Fatalf("%s: for_each could not be evaluated", r.addr())
		}
		for _, in := range insts {
			where := r.addr()
			if in.key != "" {
				where += fmt.Sprintf("[%q]", in.key)
			}
			found := 0
			conds, ok := in.attrs["conditions"]
			if !ok {
				t.Errorf("%s: no conditions", where)
				continue
			}
			for _, c := range conds.AsValueSlice() {
				if !c.Type().HasAttribute("condition_prometheus_query_language") {
					continue
				}
				for _, p := range c.GetAttr("condition_prometheus_query_language").AsValueSlice() {
					found++
					if !p.Type().HasAttribute("query") {
						t.Errorf("%s: a PromQL query could not be evaluated", where)
						continue
					}
					q := query{where: where, expr: p.GetAttr("query").AsString()}
					if r.name == "prometheus" {
						q.alert = in.key
					}
					if p.Type().HasAttribute("duration") {
						q.duration = p.GetAttr("duration").AsString()
					}
					out = append(out, q)
				}
			}
			if found != declared {
				t.Errorf("%s: %d PromQL conditions evaluated, %d declared", where, found, declared)
			}
		}
	}
	return out
}

// withFiles is the module's evaluation context plus what the dashboard's
// locals need and the shared evaluator leaves out: reading the Grafana JSON
// (file, path.module), jsondecode, lookup and replace (Terraform's replace
// is a plain substitution for the non-regex patterns used here).
func withFiles(t *testing.T, m *module) *hcl.EvalContext {
	t.Helper()
	fns := maps.Clone(functions)
	fns["file"] = function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			b, err := os.ReadFile(args[0].AsString())
			if err != nil {
				return cty.NilVal, fmt.Errorf("file: %w", err)
			}
			return cty.StringVal(string(b)), nil
		},
	})
	fns["jsondecode"] = stdlib.JSONDecodeFunc
	fns["lookup"] = stdlib.LookupFunc
	fns["replace"] = stdlib.ReplaceFunc
	locals := maps.Clone(m.locals)
	for {
		ctx := m.context()
		ctx.Functions = fns
		ctx.Variables["local"] = cty.ObjectVal(locals)
		ctx.Variables["path"] = cty.ObjectVal(map[string]cty.Value{"module": cty.StringVal(".")})
		progress := false
		for name, a := range m.localExpr {
			if _, done := locals[name]; done {
				continue
			}
			if v, diags := a.Expr.Value(ctx); !diags.HasErrors() && v.IsWhollyKnown() {
				locals[name] = v
				progress = true
			}
		}
		if !progress {
			return ctx
		}
	}
}

// dashboardQueries evaluates the dashboard's JSON and returns its PromQL.
func dashboardQueries(t *testing.T, m *module) []query {
	t.Helper()
	r := m.resource(t, "google_monitoring_dashboard", "license_server")
	a, ok := r.block.Body.Attributes["dashboard_json"]
	if !ok {
		t.Fatal("google_monitoring_dashboard.license_server has no dashboard_json")
	}
	v, diags := a.Expr.Value(withFiles(t, m))
	if diags.HasErrors() {
		t.Fatalf("evaluating dashboard_json: %s", diags.Error())
	}
	var dash map[string]any
	if err := json.Unmarshal([]byte(v.AsString()), &dash); err != nil {
		t.Fatalf("dashboard_json is not JSON: %v", err)
	}
	tiles, _ := dash["mosaicLayout"].(map[string]any)["tiles"].([]any)
	var out []query
	for i, tile := range tiles {
		w, _ := tile.(map[string]any)["widget"].(map[string]any)
		chart, ok := w["xyChart"].(map[string]any)
		if !ok {
			continue
		}
		for _, ds := range chart["dataSets"].([]any) {
			q, _ := ds.(map[string]any)["timeSeriesQuery"].(map[string]any)["prometheusQuery"].(string)
			out = append(out, query{where: fmt.Sprintf("dashboard tile %d (%v)", i, w["title"]), expr: q})
		}
	}
	return out
}

// grafanaTargets counts the PromQL targets of the Grafana JSON, collapsed
// rows' panels included.
func grafanaTargets(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(grafanaPath)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var count func(raw []json.RawMessage) int
	count = func(raw []json.RawMessage) int {
		n := 0
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			n += len(p.Targets) + count(p.Panels)
		}
		return n
	}
	var top struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	return count(top.Panels)
}

// TestPromQLUsesExportedMetrics is the acceptance test of the monitoring:
// every PromQL expression in the Terraform parses, and every metric it
// selects, every label it matches, groups or joins on, and every function
// it names is one the service exports. It also fails when it finds fewer
// queries than the configuration declares.
func TestPromQLUsesExportedMetrics(t *testing.T) {
	m := loadModule(t)
	e := loadExported(t)

	alerts := alertQueries(t, m)
	defined, ok := m.locals["prometheus_alerts"]
	if !ok {
		t.Fatal("local.prometheus_alerts could not be evaluated")
	}
	if len(alerts) < defined.LengthInt() || len(alerts) < len(requiredAlerts) {
		t.Fatalf("found %d PromQL alert conditions, %d alerts defined, %d required", len(alerts), defined.LengthInt(), len(requiredAlerts))
	}
	dash := dashboardQueries(t, m)
	if want := grafanaTargets(t); len(dash) != want || want < 10 {
		t.Errorf("dashboard has %d PromQL queries, the Grafana JSON %d", len(dash), want)
	}

	p := parser.NewParser(parser.Options{})
	for _, q := range append(alerts, dash...) {
		expr, err := p.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", q.where, q.expr, err)
			continue
		}
		if expr.Type() != parser.ValueTypeVector {
			t.Errorf("%s: %q is a %s, want an instant vector", q.where, q.expr, expr.Type())
		}
		for _, msg := range checkExpr(expr, e) {
			t.Errorf("%s: %s\n  in %s", q.where, msg, q.expr)
		}
	}
	for _, q := range alerts {
		if _, _, ok := firingComparison(mustParse(t, p, q.expr)); !ok {
			t.Errorf("%s: %q has no filtering comparison at its top: it would fire whenever data exists", q.where, q.expr)
		}
	}
}

func mustParse(t *testing.T, p parser.Parser, s string) parser.Expr {
	t.Helper()
	expr, err := p.ParseExpr(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return expr
}

// checkExpr checks an expression's selectors, matchers, groupings and
// vector matchings against e.
func checkExpr(expr parser.Expr, e exported) []string {
	var errs []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := n.Name
			labels, ok := e.series[name]
			if !ok {
				errs = append(errs, fmt.Sprintf("selects %q, which nothing exports", name))
				return nil
			}
			for _, mt := range n.LabelMatchers {
				if mt.Name == "__name__" {
					continue
				}
				if !slices.Contains(labels, mt.Name) {
					errs = append(errs, fmt.Sprintf("%s has no label %q", name, mt.Name))
				}
				if mt.Name == "function" {
					for _, v := range strings.Split(mt.Value, "|") {
						if v != ".*" && !slices.Contains(e.functions, v) {
							errs = append(errs, fmt.Sprintf("function %q is no FUNCTION_TARGET of knative/services", v))
						}
					}
				}
			}
		case *parser.AggregateExpr:
			under := labelsUnder(n.Expr, e)
			for _, l := range n.Grouping {
				if !slices.Contains(under, l) {
					errs = append(errs, fmt.Sprintf("groups by %q, which no series it aggregates has", l))
				}
			}
		case *parser.BinaryExpr:
			if n.VectorMatching == nil {
				return nil
			}
			under := append(labelsUnder(n.LHS, e), labelsUnder(n.RHS, e)...)
			for _, l := range append(slices.Clone(n.VectorMatching.MatchingLabels), n.VectorMatching.Include...) {
				if !slices.Contains(under, l) {
					errs = append(errs, fmt.Sprintf("matches on %q, which neither side has", l))
				}
			}
		}
		return nil
	})
	return errs
}

// labelsUnder is every label of the series selected under node.
func labelsUnder(node parser.Node, e exported) []string {
	var out []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			out = append(out, e.series[vs.Name]...)
		}
		return nil
	})
	return out
}

// firingComparison finds the comparison that decides whether an alert
// query returns anything: the top expression, or the left side of and /
// unless / or, through parentheses.
func firingComparison(expr parser.Expr) (op string, rhs parser.Expr, ok bool) {
	switch n := expr.(type) {
	case *parser.ParenExpr:
		return firingComparison(n.Expr)
	case *parser.BinaryExpr:
		if n.Op.IsComparisonOperator() && !n.ReturnBool {
			return n.Op.String(), n.RHS, true
		}
		if n.Op == parser.LAND || n.Op == parser.LUNLESS || n.Op == parser.LOR {
			return firingComparison(n.LHS)
		}
	}
	return "", nil, false
}

// TestRequiredAlertsAndTheirThresholds: each alert of the README's table
// exists under its key, fires on the documented comparison and threshold,
// after the documented duration; the cleanup alert's window is three
// schedule periods of the cleanup job.
func TestRequiredAlertsAndTheirThresholds(t *testing.T) {
	m := loadModule(t)
	p := parser.NewParser(parser.Options{})
	byKey := map[string]query{}
	for _, q := range alertQueries(t, m) {
		if q.alert != "" {
			byKey[q.alert] = q
		}
	}
	maxConns, ok := m.locals["alert_sql_max_connections"]
	if !ok {
		t.Fatal("local.alert_sql_max_connections could not be evaluated")
	}
	for key, want := range requiredAlerts {
		q, ok := byKey[key]
		if !ok {
			t.Errorf("no alert %q in local.prometheus_alerts", key)
			continue
		}
		if want.threshold < 0 { // sql_connections: 80 % of max_connections
			f, _ := maxConns.AsBigFloat().Float64()
			want.threshold = 0.8 * f
		}
		op, rhs, ok := firingComparison(mustParse(t, p, q.expr))
		num, isNum := rhs.(*parser.NumberLiteral)
		if !ok || op != want.op || !isNum || num.Val != want.threshold {
			t.Errorf("%s: fires on %s %v, want %s %v", key, op, rhs, want.op, want.threshold)
		}
		if q.duration != want.duration {
			t.Errorf("%s: duration %q, want %q", key, q.duration, want.duration)
		}
	}

	// Cleanup: "3 consecutive schedules" is a window of three periods.
	sched := m.only(t, m.resource(t, "google_cloud_scheduler_job", "cleanup"))
	if got := str(t, "google_cloud_scheduler_job.cleanup", sched, "schedule"); got != "* * * * *" {
		t.Fatalf("cleanup schedule %q: the cleanup alert assumes one run a minute", got)
	}
	parser.Inspect(mustParse(t, p, byKey["cleanup_failing"].expr), func(n parser.Node, _ []parser.Node) error {
		if ms, ok := n.(*parser.MatrixSelector); ok && ms.Range != 3*time.Minute {
			t.Errorf("cleanup_failing: window %s, want 3m (three one-minute schedules)", ms.Range)
		}
		return nil
	})
}

// TestAlertPoliciesNotifyAndExplain: every alert policy notifies the
// channels of var.alert_notification_channels, gives each condition a
// duration, and documents in Markdown what it means, its runbook section
// and the first action.
func TestAlertPoliciesNotifyAndExplain(t *testing.T) {
	m := loadModule(t)
	policies := m.resourcesOf("google_monitoring_alert_policy")
	if len(policies) < 3 {
		t.Fatalf("%d alert policy resources", len(policies))
	}
	total := 0
	for _, r := range policies {
		a, ok := r.block.Body.Attributes["notification_channels"]
		if !ok || strings.TrimSpace(m.source(r, a.Expr)) != "var.alert_notification_channels" {
			t.Errorf("%s: notification_channels must be var.alert_notification_channels", r.addr())
		}
		for _, in := range m.instances[r.addr()] {
			total++
			where := r.addr() + "[" + in.key + "]"
			docs, ok := in.attrs["documentation"]
			if !ok || docs.LengthInt() != 1 {
				t.Errorf("%s: no documentation", where)
				continue
			}
			d := docs.Index(cty.NumberIntVal(0))
			if !d.Type().HasAttribute("content") || !d.Type().HasAttribute("mime_type") {
				t.Errorf("%s: documentation content or mime_type could not be evaluated", where)
				continue
			}
			content := d.GetAttr("content").AsString()
			if d.GetAttr("mime_type").AsString() != "text/markdown" || !strings.Contains(content, `"Runbooks" > "`) ||
				!strings.Contains(content, "**First action:**") || len(content) < 150 {
				t.Errorf("%s: documentation must be Markdown with the meaning, the Runbooks section and the first action:\n%s", where, content)
			}
			for _, c := range in.attrs["conditions"].AsValueSlice() {
				for _, kind := range []string{"condition_prometheus_query_language", "condition_threshold"} {
					if !c.Type().HasAttribute(kind) {
						continue
					}
					for _, k := range c.GetAttr(kind).AsValueSlice() {
						if !k.Type().HasAttribute("duration") || !strings.HasSuffix(k.GetAttr("duration").AsString(), "s") {
							t.Errorf("%s: %s without a duration", where, kind)
						}
					}
				}
			}
		}
	}
	if total < len(requiredAlerts)+2+4 {
		t.Errorf("%d alert policies, want the %d PromQL alerts, 2 uptime and 4 burn-rate alerts", total, len(requiredAlerts))
	}
	v := m.blocks("variable")
	if !slices.ContainsFunc(v, func(b *hclsyntax.Block) bool { return b.Labels[0] == "alert_notification_channels" }) {
		t.Error("no variable alert_notification_channels")
	}
}

// filterMetricType and filterMetricLabel match fields of a Cloud Monitoring
// filter.
var (
	filterMetricType  = regexp.MustCompile(`metric\.type="prometheus\.googleapis\.com/([a-z_]+)/([a-z]+)"`)
	filterMetricLabel = regexp.MustCompile(`metric\.label\.([a-z_]+)=(?:"([^"]*)")?`)
)

// TestAcquireSLOs: availability 99.95 % and latency 95 % under 100 ms over
// a rolling 28 days, on the acquire function's Managed Prometheus series
// (metric types and labels the code exports), each with a fast and a slow
// burn-rate alert that selects that SLO.
func TestAcquireSLOs(t *testing.T) {
	m := loadModule(t)
	e := loadExported(t)
	checkFilter := func(where, f string) {
		t.Helper()
		mt := filterMetricType.FindStringSubmatch(f)
		if mt == nil {
			t.Errorf("%s: filter %q names no Managed Prometheus metric type", where, f)
			return
		}
		fam, ok := e.families[mt[1]]
		if !ok || fam.Type != mt[2] {
			t.Errorf("%s: metric type %s/%s, but the code exports %s as %q", where, mt[1], mt[2], mt[1], fam.Type)
		}
		labels := 0
		for _, l := range filterMetricLabel.FindAllStringSubmatch(f, -1) {
			labels++
			if !slices.Contains(fam.Labels, l[1]) {
				t.Errorf("%s: %s has no label %q", where, mt[1], l[1])
			}
			if l[1] == "function" && l[2] != "Acquire" {
				t.Errorf("%s: function %q, want Acquire", where, l[2])
			}
		}
		if !strings.Contains(f, `metric.label.function="Acquire"`) || !strings.Contains(f, `resource.type="prometheus_target"`) {
			t.Errorf("%s: filter %q is not the acquire function's Managed Prometheus series", where, f)
		}
	}
	sli := func(where string, attrs map[string]cty.Value) cty.Value {
		t.Helper()
		s := attrs["request_based_sli"]
		if s.LengthInt() != 1 {
			t.Fatalf("%s: want one request_based_sli", where)
		}
		return s.Index(cty.NumberIntVal(0))
	}
	first := func(v cty.Value, name string) cty.Value {
		t.Helper()
		if !v.Type().HasAttribute(name) || v.GetAttr(name).LengthInt() != 1 {
			t.Fatalf("want one %s", name)
		}
		return v.GetAttr(name).Index(cty.NumberIntVal(0))
	}

	avail := m.only(t, m.resource(t, "google_monitoring_slo", "acquire_availability"))
	wantAttr(t, "acquire_availability", avail, "goal", cty.NumberFloatVal(0.9995))
	wantAttr(t, "acquire_availability", avail, "rolling_period_days", cty.NumberIntVal(28))
	ratio := first(sli("acquire_availability", avail), "good_total_ratio")
	for _, f := range []string{"total_service_filter", "bad_service_filter"} {
		checkFilter("acquire_availability "+f, ratio.GetAttr(f).AsString())
	}
	if bad := ratio.GetAttr("bad_service_filter").AsString(); !strings.Contains(bad, `metric.label.code=monitoring.regex.full_match("5..")`) {
		t.Errorf("bad_service_filter %q does not count 5xx answers as bad", bad)
	}

	lat := m.only(t, m.resource(t, "google_monitoring_slo", "acquire_latency"))
	wantAttr(t, "acquire_latency", lat, "goal", cty.NumberFloatVal(0.95))
	wantAttr(t, "acquire_latency", lat, "rolling_period_days", cty.NumberIntVal(28))
	cut := first(sli("acquire_latency", lat), "distribution_cut")
	checkFilter("acquire_latency distribution_filter", cut.GetAttr("distribution_filter").AsString())
	rng := first(cut, "range")
	wantAttr(t, "acquire_latency range", rng.AsValueMap(), "max", cty.NumberFloatVal(0.1))
	if req := e.families["license_http_server_request_duration_seconds"]; !slices.Contains(req.Buckets, 0.1) {
		t.Errorf("0.1 s is no bucket boundary of the request histogram (%v): the cut would be interpolated", req.Buckets)
	}
	for _, s := range []map[string]cty.Value{avail, lat} {
		if svc := s["service"]; svc.AsString() != "license-acquire" {
			t.Errorf("SLO service %q, want the custom service license-acquire", svc.AsString())
		}
	}

	// Burn-rate alerts: the SLO names they select, and a fast and a slow one each.
	names := m.localExpr["slo_names"]
	if names == nil {
		t.Fatal("no local.slo_names")
	}
	src := strings.Join(strings.Fields(string(names.Expr.Range().SliceBytes(fileOf(t, m, "monitoring.tf").src))), " ")
	for _, want := range []string{"availability = google_monitoring_slo.acquire_availability.name", "latency = google_monitoring_slo.acquire_latency.name"} {
		if !strings.Contains(src, want) {
			t.Errorf("local.slo_names does not map %q", want)
		}
	}
	burn := m.resource(t, "google_monitoring_alert_policy", "slo_burn")
	if !strings.Contains(string(burn.block.Range().SliceBytes(burn.file.src)), `select_slo_burn_rate(\"${local.slo_names[each.value.slo]}\", \"${each.value.lookback}\")`) {
		t.Error("slo_burn's condition does not select_slo_burn_rate of local.slo_names[each.value.slo] over each.value.lookback")
	}
	type window struct {
		slo, lookback string
		burn          float64
	}
	var got []window
	for _, in := range m.instances[burn.addr()] {
		c := first(in.attrs["conditions"].Index(cty.NumberIntVal(0)), "condition_threshold")
		th, _ := c.GetAttr("threshold_value").AsBigFloat().Float64()
		a := m.locals["burn_rate_alerts"].GetAttr(in.key)
		got = append(got, window{a.GetAttr("slo").AsString(), a.GetAttr("lookback").AsString(), th})
	}
	slices.SortFunc(got, func(a, b window) int { return strings.Compare(a.slo+a.lookback, b.slo+b.lookback) })
	want := []window{{"availability", "360m", 6}, {"availability", "60m", 14.4}, {"latency", "360m", 6}, {"latency", "60m", 14.4}}
	if !slices.Equal(got, want) {
		t.Errorf("burn-rate alerts %v, want %v", got, want)
	}
}

// fileOf returns the parsed file name.
func fileOf(t *testing.T, m *module, name string) *tfFile {
	t.Helper()
	for _, f := range m.files {
		if f.path == name {
			return f
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

// TestUptimeChecks: /health/ and /ready of api_domain over HTTPS with the
// certificate validated (the certificate-expiry alert reads it), from at
// least three regions; each has an alert on its own check.
func TestUptimeChecks(t *testing.T) {
	m := loadModule(t)
	r := m.resource(t, "google_monitoring_uptime_check_config", "api")
	paths := map[string]bool{}
	for _, in := range m.instances[r.addr()] {
		where := r.addr() + "[" + in.key + "]"
		regions := in.attrs["selected_regions"].AsValueSlice()
		if len(regions) < 3 {
			t.Errorf("%s: %d regions, want at least 3", where, len(regions))
		}
		hc := in.attrs["http_check"].Index(cty.NumberIntVal(0)).AsValueMap()
		paths[hc["path"].AsString()] = true
		wantAttr(t, where, hc, "use_ssl", cty.True)
		wantAttr(t, where, hc, "validate_ssl", cty.True)
		wantAttr(t, where, hc, "port", cty.NumberIntVal(443))
		mr := in.attrs["monitored_resource"].Index(cty.NumberIntVal(0)).AsValueMap()
		wantAttr(t, where, mr, "type", cty.StringVal("uptime_url"))
		if host := mr["labels"].GetAttr("host"); !host.RawEquals(m.vars["api_domain"]) {
			t.Errorf("%s: host %v, want var.api_domain", where, host)
		}
	}
	if !paths["/health/"] || !paths["/ready"] {
		t.Errorf("uptime check paths %v, want /health/ and /ready", paths)
	}
	alert := m.resource(t, "google_monitoring_alert_policy", "uptime")
	if src := string(alert.block.Range().SliceBytes(alert.file.src)); !strings.Contains(src, "google_monitoring_uptime_check_config.api[each.key].uptime_check_id") {
		t.Error("the uptime alerts do not select their own check's check_id")
	}
	if got, want := slices.Sorted(maps.Keys(instanceKeys(m, alert))), slices.Sorted(maps.Keys(instanceKeys(m, r))); !slices.Equal(got, want) {
		t.Errorf("uptime alerts %v, checks %v: want one alert per check", got, want)
	}
}

func instanceKeys(m *module, r *resource) map[string]bool {
	out := map[string]bool{}
	for _, in := range m.instances[r.addr()] {
		out[in.key] = true
	}
	return out
}

// TestSQLConnectionsAlertMatchesTheFlag: the connections alert's limit is
// the database's max_connections, once sql.tf sets it (as a variable or a
// flag), and the Monitoring API is enabled.
func TestSQLConnectionsAlertMatchesTheFlag(t *testing.T) {
	m := loadModule(t)
	local, ok := m.locals["alert_sql_max_connections"]
	if !ok {
		t.Fatal("local.alert_sql_max_connections could not be evaluated")
	}
	if v, ok := m.vars["sql_max_connections"]; ok && !v.RawEquals(local) {
		t.Errorf("var.sql_max_connections = %v but local.alert_sql_max_connections = %v: make the local var.sql_max_connections", v, local)
	}
	sql := m.only(t, m.resource(t, "google_sql_database_instance", "main"))
	settings := sql["settings"].Index(cty.NumberIntVal(0))
	if settings.Type().HasAttribute("database_flags") {
		for _, f := range settings.GetAttr("database_flags").AsValueSlice() {
			if f.GetAttr("name").AsString() != "max_connections" {
				continue
			}
			if !f.Type().HasAttribute("value") {
				t.Fatal("the max_connections flag's value could not be evaluated")
			}
			if got := f.GetAttr("value").AsString(); got != local.AsBigFloat().Text('f', -1) {
				t.Errorf("max_connections flag %s, alert_sql_max_connections %s: the alert would fire at the wrong count", got, local.AsBigFloat().Text('f', -1))
			}
		}
	}
	apis := map[string]bool{}
	for _, in := range m.instances["google_project_service.enabled"] {
		apis[in.attrs["service"].AsString()] = true
	}
	if !apis["monitoring.googleapis.com"] {
		t.Error("monitoring.googleapis.com is not enabled")
	}
}
