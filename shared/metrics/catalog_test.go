package metrics_test

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/coditect-ai/license-server/shared/metrics"
)

// TestCatalogCoversEveryInstrument: Catalog reports the same families, with
// the same label names, as a scrape after exercise (which
// TestEveryInstrumentIsExported keeps complete against real Redis), so an
// instrument added without a measurement in Catalog fails here instead of
// going unchecked by the dashboard and alert tests that rely on Catalog.
func TestCatalogCoversEveryInstrument(t *testing.T) {
	t.Parallel()
	got, err := metrics.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(context.Background(), metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown(context.Background()) })
	exercise(t, m)
	want := scrape(t, m)

	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("Catalog families = %v\nscrape after exercise = %v", g, w)
	}
	for name, f := range want {
		if name == "target_info" {
			continue // resource attributes: service.name differs on purpose
		}
		var labels []string
		for _, s := range f.samples {
			for l := range s.labels {
				if !slices.Contains(labels, l) && l != "le" {
					labels = append(labels, l)
				}
			}
		}
		slices.Sort(labels)
		if !slices.Equal(got[name].Labels, labels) {
			t.Errorf("%s: Catalog labels = %v, scrape's = %v", name, got[name].Labels, labels)
		}
	}
	for name, f := range got {
		switch f.Type {
		case "counter", "gauge":
			if len(f.Buckets) != 0 {
				t.Errorf("%s (%s) has buckets %v", name, f.Type, f.Buckets)
			}
		case "histogram":
			if len(f.Buckets) < 5 {
				t.Errorf("%s: buckets %v", name, f.Buckets)
			}
		default:
			t.Errorf("%s: type %q", name, f.Type)
		}
	}
	// The latency objectives in terraform/monitoring.tf cut the request
	// histogram at bucket boundaries; this is the family they use.
	req := got["license_http_server_request_duration_seconds"]
	if !slices.Contains(req.Buckets, 0.1) || !slices.Contains(req.Buckets, 0.25) {
		t.Errorf("request duration buckets %v lack 0.1 or 0.25", req.Buckets)
	}
	if !slices.Equal(got["license_http_server_requests_total"].Labels, []string{"code", "function", "method", "route"}) {
		t.Errorf("requests labels = %v", got["license_http_server_requests_total"].Labels)
	}
}
