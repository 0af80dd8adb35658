package metrics

import (
	"container/list"
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Acquire outcomes.
const (
	OutcomeGranted = "granted" // a new session
	OutcomeResumed = "resumed" // the workstation's live session, extended
	OutcomeDenied  = "denied"  // refused for a reason the client is told (Reason)
	OutcomeInvalid = "invalid" // a malformed request (400)
	OutcomeError   = "error"   // a backend failure or a lease that could not be signed
)

// denialReasons are the reason label values: the API error codes an
// acquire is refused with. Any other code is counted as "other", so a new
// error code cannot add series unnoticed.
var denialReasons = []string{"license_not_found", "license_inactive", "no_seats_available", "user_seat_limit",
	"user_required", "forbidden", "workstation_blocked", "rate_limited", "other"}

// Acquire is how one acquire call ended.
type Acquire struct {
	Outcome string
	Reason  string // denied only: the API error code
	// LicenseID is the license the key named ("" when it named none); it
	// feeds the seat gauges, never a label of this counter.
	LicenseID string
	// Seats is the license's seat count when the answer told it (granted,
	// resumed, no_seats_available), else 0.
	Seats int
}

func acquireAttributes() map[[2]string]metric.MeasurementOption {
	out := map[[2]string]metric.MeasurementOption{}
	for _, o := range []string{OutcomeGranted, OutcomeResumed, OutcomeInvalid, OutcomeError} {
		out[[2]string{o, ""}] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", o)))
	}
	for _, r := range denialReasons {
		out[[2]string{OutcomeDenied, r}] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("outcome", OutcomeDenied), attribute.String("reason", r)))
	}
	return out
}

// AcquireOutcome counts one acquire, and remembers the license for the seat
// gauges when the answer told its seat count.
func (m *Metrics) AcquireOutcome(ctx context.Context, a Acquire) {
	if m == nil {
		return
	}
	if a.Outcome != OutcomeDenied {
		a.Reason = ""
	}
	opt, ok := m.acquireAttrs[[2]string{a.Outcome, a.Reason}]
	if !ok && a.Outcome == OutcomeDenied {
		opt = m.acquireAttrs[[2]string{OutcomeDenied, "other"}]
	} else if !ok {
		// Callers use the Outcome constants; this keeps the label bounded
		// should one not.
		opt = m.acquireAttrs[[2]string{OutcomeError, ""}]
	}
	m.acquireOutcomes.Add(ctx, 1, opt)
	if a.LicenseID != "" && a.Seats > 0 {
		m.licenses.touch(a.LicenseID, a.Seats)
	}
}

// CountSeatsWith gives the seat gauges their reader of live counts (the seat
// engine's Count); until it is called they report nothing.
func (m *Metrics) CountSeatsWith(count CountFunc) {
	if m == nil || count == nil {
		return
	}
	m.count.Store(&count)
}

// CountDroppedSightingsWith gives the dropped-sightings counter its reader
// (the workstation recorder's Dropped); until it is called the counter is
// not reported.
func (m *Metrics) CountDroppedSightingsWith(dropped func() int64) {
	if m == nil || dropped == nil {
		return
	}
	m.droppedSightings.Store(&dropped)
}

// seatCountTimeout bounds the Redis read behind one scrape of the seat
// gauges: a slow Redis must not stall the scrape (the gauges are then
// missing from it, which is what an alert should see).
const seatCountTimeout = 500 * time.Millisecond

func (m *Metrics) observeSeats(live metric.Int64ObservableGauge, util metric.Float64ObservableGauge) metric.Callback {
	return func(ctx context.Context, o metric.Observer) error {
		count := m.count.Load()
		if count == nil {
			return nil
		}
		seen := m.licenses.snapshot()
		if len(seen) == 0 {
			return nil
		}
		ids := make([]string, len(seen))
		for i, s := range seen {
			ids[i] = s.id
		}
		ctx, cancel := context.WithTimeout(ctx, seatCountTimeout)
		defer cancel()
		counts, err := (*count)(ctx, ids)
		if err != nil {
			// Not returned: the SDK would print it as plain text outside
			// the JSON log. The gauges' absence from the scrape says it.
			return nil
		}
		for _, s := range seen {
			n := counts[s.id]
			// Built per collection rather than per acquire: a collection
			// is rare, an eviction may happen on every acquire.
			attrs := metric.WithAttributeSet(attribute.NewSet(attribute.String("license_id", s.id)))
			o.ObserveInt64(live, int64(n), attrs)
			o.ObserveFloat64(util, float64(n)/float64(s.seats), attrs)
		}
		return nil
	}
}

// recentLicenses are the licenses the seat gauges report: at most max, the
// most recently acquired on this instance. The bound keeps the gauges'
// series fixed however many licenses the service has. It is an LRU list:
// with more active licenses than max nearly every acquire evicts one, so
// both a hit and an eviction must cost O(1) and no allocation but the id.
type recentLicenses struct {
	mu   sync.Mutex
	max  int
	byID map[string]*list.Element // of *recentLicense
	lru  *list.List               // most recent at the front
}

type recentLicense struct {
	id    string
	seats int
}

func newRecentLicenses(max int) *recentLicenses {
	return &recentLicenses{max: max, byID: make(map[string]*list.Element, max), lru: list.New()}
}

// touch records an acquire of license id with seats seats.
func (r *recentLicenses) touch(id string, seats int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byID[id]; ok {
		l := e.Value.(*recentLicense)
		l.seats = seats
		r.lru.MoveToFront(e)
		return
	}
	// A copy: id is a slice of the license key the client sent, which must
	// not be kept alive by this map.
	id = strings.Clone(id)
	if r.lru.Len() >= r.max {
		// The least recent one's element is reused for the new license.
		e := r.lru.Back()
		l := e.Value.(*recentLicense)
		delete(r.byID, l.id)
		*l = recentLicense{id: id, seats: seats}
		r.lru.MoveToFront(e)
		r.byID[id] = e
		return
	}
	r.byID[id] = r.lru.PushFront(&recentLicense{id: id, seats: seats})
}

// snapshot copies the licenses out, so the Redis read runs unlocked.
func (r *recentLicenses) snapshot() []recentLicense {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]recentLicense, 0, r.lru.Len())
	for e := r.lru.Front(); e != nil; e = e.Next() {
		out = append(out, *e.Value.(*recentLicense))
	}
	return out
}
