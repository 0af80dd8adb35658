package workstations

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Recorder writes sightings to PostgreSQL in the background, in batches, so
// acquire (the hot path) never waits for the database. Inventory is best
// effort by design: a sighting queued when the process dies is lost, and the
// next acquire from that workstation records it again. If the queue is full
// (PostgreSQL slow or down), new sightings are dropped rather than slowing
// acquire down; they are counted, as are those of a batch that failed to
// write, so the loss shows in the metrics.
type Recorder struct {
	store    *Store
	logger   *slog.Logger
	queue    chan Sighting
	interval time.Duration
	done     chan struct{}
	stopOnce sync.Once
	dropped  atomic.Int64
}

// NewRecorder starts a recorder flushing every interval (and when a batch
// fills). Close flushes what is queued and stops it.
func NewRecorder(store *Store, logger *slog.Logger, interval time.Duration) *Recorder {
	r := &Recorder{store: store, logger: logger, queue: make(chan Sighting, 10000),
		interval: interval, done: make(chan struct{})}
	go r.run()
	return r
}

// Seen queues a sighting; it never blocks.
func (r *Recorder) Seen(s Sighting) {
	select {
	case r.queue <- s:
	default:
		r.dropped.Add(1)
	}
}

// Dropped is how many sightings were lost: dropped because the queue was
// full, or in a batch that failed to write.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Close flushes the queue and stops the recorder.
func (r *Recorder) Close() {
	r.stopOnce.Do(func() { close(r.queue) })
	<-r.done
}

// maxBatch bounds one flush. Small batches keep the database's work smooth:
// a large batch is a burst of several milliseconds on one core, and on a
// machine shared with the server the requests overlapping it made the
// tail. 100 narrowed acquire's p99/p50 in make bench against 500, with no
// gain from smaller batches, for one more small transaction per 100
// sightings (figures: BENCHMARKS.md, "Figures the code relies on").
const maxBatch = 100

func (r *Recorder) run() {
	defer close(r.done)
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	// Repeated sightings of one workstation in a batch collapse to the newest.
	batch := map[[2]string]Sighting{}
	flush := func() {
		if len(batch) == 0 {
			return
		}
		list := make([]Sighting, 0, len(batch))
		for _, s := range batch {
			list = append(list, s)
		}
		clear(batch)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if lost, err := r.store.Upsert(ctx, list); err != nil {
			r.dropped.Add(int64(lost))
			r.logger.Warn("recording workstations failed", "error", err.Error(), "sightings", len(list), "lost", lost)
		}
	}
	for {
		select {
		case s, ok := <-r.queue:
			if !ok {
				flush()
				return
			}
			batch[[2]string{s.TenantID, s.Fingerprint}] = s
			if len(batch) >= maxBatch {
				flush()
			}
		case <-ticker.C:
			flush()
		}
	}
}
