package route_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/route"
)

func TestInflightWaitsForCalls(t *testing.T) {
	t.Parallel()
	var f route.Inflight
	release := make(chan struct{})
	started := make(chan struct{})
	h := f.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	}))
	go h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.Wait(ctx); err == nil {
		t.Fatal("Wait returned while a call was in flight")
	}
	close(release)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("Wait after the call ended: %v", err)
	}
}
