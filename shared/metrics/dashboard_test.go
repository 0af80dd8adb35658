package metrics_test

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/shared/metrics"
)

// dashboardPath is the Grafana dashboard built on these metrics.
const dashboardPath = "../../knative/monitoring/grafana-dashboard.json"

type dashboardPanel struct {
	Title   string           `json:"title"`
	Panels  []dashboardPanel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

var (
	metricName = regexp.MustCompile(`\blicense_[a-z_]+\b`)
	byClause   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	selector   = regexp.MustCompile(`\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
)

// TestDashboardUsesExportedMetrics: every metric and label the dashboard's
// PromQL names is one the code exports (a renamed instrument fails here,
// not on a blank panel in production), and every exported family is on it.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []dashboardPanel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}

	families, err := metrics.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]bool{} // names PromQL can select
	labels := map[string]bool{"le": true}
	for name, f := range families {
		series[name] = true
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			series[name+suffix] = f.Type == "histogram"
		}
		for _, l := range f.Labels {
			labels[l] = true
		}
	}

	var exprs []string
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		exprs = append(exprs, string(v.Query))
	}
	if len(exprs) < 10 {
		t.Fatalf("found only %d expressions in %s", len(exprs), dashboardPath)
	}

	used := map[string]bool{}
	for _, e := range exprs {
		for _, g := range byClause.FindAllStringSubmatch(e, -1) {
			for _, l := range strings.Split(g[1], ",") {
				if l = strings.TrimSpace(l); l != "" && !labels[l] {
					t.Errorf("%q groups by label %q, which no metric has", e, l)
				}
			}
		}
		for _, g := range selector.FindAllStringSubmatch(e, -1) {
			for _, mm := range matcher.FindAllStringSubmatch(g[1], -1) {
				if !labels[mm[1]] {
					t.Errorf("%q matches on label %q, which no metric has", e, mm[1])
				}
			}
		}
		for _, name := range metricName.FindAllString(e, -1) {
			if labels[name] {
				continue // a label that happens to start with license_ (license_id)
			}
			if !series[name] {
				t.Errorf("%q uses %s, which the code does not export", e, name)
			}
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
		}
	}
	var missing []string
	for name := range families {
		if name != "target_info" && !used[name] {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("exported but on no panel: %v", missing)
	}
}
