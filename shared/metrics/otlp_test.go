package metrics_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/grpc"

	"github.com/coditect-ai/license-server/shared/metrics"
)

// collector is a fake OTLP gRPC metrics receiver remembering metric names.
type collector struct {
	collectorpb.UnimplementedMetricsServiceServer
	mu    sync.Mutex
	names map[string]bool
}

func (c *collector) Export(_ context.Context, req *collectorpb.ExportMetricsServiceRequest) (*collectorpb.ExportMetricsServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				c.names[m.GetName()] = true
			}
		}
	}
	return &collectorpb.ExportMetricsServiceResponse{}, nil
}

// TestOTLPPush: with an endpoint, the same instruments are pushed over
// OTLP gRPC; Shutdown flushes what is pending.
func TestOTLPPush(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{names: map[string]bool{}}
	srv := grpc.NewServer()
	collectorpb.RegisterMetricsServiceServer(srv, c)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	m, err := metrics.New(context.Background(), metrics.Options{OTLPEndpoint: "http://" + ln.Addr().String(), Function: "Acquire"})
	if err != nil {
		t.Fatal(err)
	}
	h := m.HTTP("Acquire", "/v1/acquire", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/acquire", nil))
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.names["license_http_server_requests"] || !c.names["license_http_server_request_duration"] {
		t.Fatalf("collector received %v", c.names)
	}
}
