package route

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Inflight counts the calls a process is serving, so that on SIGTERM it can
// let them finish before it exits. The production entry point needs it:
// functions-framework's server has no graceful shutdown of its own, and
// Knative sends SIGTERM once it has stopped routing to the pod.
type Inflight struct{ n atomic.Int64 }

// Wrap counts h's calls.
func (f *Inflight) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := f.Begin()
		defer done()
		h.ServeHTTP(w, r)
	})
}

// Begin counts one call until the returned function is called.
func (f *Inflight) Begin() func() {
	f.n.Add(1)
	return func() { f.n.Add(-1) }
}

// Wait returns once no call is in flight, or with ctx's error.
func (f *Inflight) Wait(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for f.n.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
