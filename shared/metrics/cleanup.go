package metrics

import (
	"context"
	"time"

	"github.com/coditect-ai/license-server/shared/cleanup"
)

// Cleanup returns the observer cleanup.WithObserver takes. A nil Metrics
// returns nil (no observer).
func (m *Metrics) Cleanup() cleanup.Observer {
	if m == nil {
		return nil
	}
	return cleanupObserver{m}
}

type cleanupObserver struct{ m *Metrics }

// CleanupRun counts a run and what it did. The drain lag gauge keeps the
// last completed run's value: a skipped run saw nothing and a failed one
// may have stopped early, so neither replaces it.
func (o cleanupObserver) CleanupRun(res cleanup.Result, took time.Duration, err error) {
	m, ctx := o.m, context.Background()
	result := "ok"
	switch {
	case err != nil:
		result = "failed"
	case res.Skipped:
		result = "skipped"
	}
	m.cleanupRuns.Add(ctx, 1, m.cleanupAttrs[result])
	if res.Skipped {
		return
	}
	m.cleanupLicenses.Add(ctx, int64(res.Licenses))
	m.cleanupExpired.Add(ctx, int64(res.Expired))
	m.cleanupDrained.Add(ctx, int64(res.Drained))
	m.cleanupDuration.Record(ctx, took.Seconds())
	if err == nil || res.Lag > 0 {
		// A failed run that read entries still saw them waiting: while
		// PostgreSQL is down every run fails, and the lag must grow.
		m.drainLag.Store(int64(res.Lag))
	}
}
