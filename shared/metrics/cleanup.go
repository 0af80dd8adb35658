package metrics

import (
	"context"
	"time"
)

// Cleanup is what one cleanup run did, in plain values. The cleaner's
// Result is not used here: metrics is a leaf, and importing shared/cleanup
// would pull the seat engine, the ledger and the Lua scripts into every
// package that records a metric (shared/route among them). The package
// that wires the two (shared/backend) copies the fields across.
type Cleanup struct {
	Skipped  bool // another run held the lock: nothing else is counted
	Failed   bool // the run ended with an error; what it did before still counts
	Licenses int  // licenses visited
	Expired  int  // sessions swept and recorded as expired
	Drained  int  // ledger entries newly stored in PostgreSQL
	// Lag is how long the oldest ledger entry the run read had waited in
	// Redis (0 when it read none).
	Lag time.Duration
	// Took is the run's duration.
	Took time.Duration
}

// CleanupRun counts a run and what it did. The drain lag gauge keeps the
// last completed run's value: a skipped run saw nothing and a failed one
// may have stopped early, so neither replaces it. A nil Metrics records
// nothing.
func (m *Metrics) CleanupRun(c Cleanup) {
	if m == nil {
		return
	}
	ctx := context.Background()
	result := "ok"
	switch {
	case c.Failed:
		result = "failed"
	case c.Skipped:
		result = "skipped"
	}
	m.cleanupRuns.Add(ctx, 1, m.cleanupAttrs[result])
	if c.Skipped {
		return
	}
	m.cleanupLicenses.Add(ctx, int64(c.Licenses))
	m.cleanupExpired.Add(ctx, int64(c.Expired))
	m.cleanupDrained.Add(ctx, int64(c.Drained))
	m.cleanupDuration.Record(ctx, c.Took.Seconds())
	if !c.Failed || c.Lag > 0 {
		// A failed run that read entries still saw them waiting: while
		// PostgreSQL is down every run fails, and the lag must grow.
		m.drainLag.Store(int64(c.Lag))
	}
}
