// Package cleanup turns dead sessions into history: it sweeps expired
// sessions out of Redis (recording each as expired) and drains every
// license's ledger stream into PostgreSQL. First, each run reconciles: it
// has every license changed in PostgreSQL since its last complete
// reconciliation written through to Redis again, so a change whose
// write-through failed (Redis down just after the commit) is in effect
// within one schedule period and one run, even if nobody retries it.
//
// A run is bounded (licenses per page, sessions per script call, events per
// batch, and a wall-clock budget), remembers where it stopped so the next run
// goes on from there, never uses KEYS, and works on Redis Cluster. Runs are
// serialised by a Redis lock with a TTL; were two to overlap anyway (a run
// outliving its lock), nothing is counted twice: each sweep call is atomic
// and the ledger insert is idempotent.
package cleanup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/coditect-ai/license-server/lua"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/seats"
	"github.com/coditect-ai/license-server/shared/usage"
)

// Limits bound one run.
type Limits struct {
	Budget     time.Duration // wall time after which a run stops at the next page
	ScanPage   int64         // licenses per registry page
	SweepBatch int           // expired sessions dropped per script call
	DrainBatch int64         // ledger entries read and committed at a time
	// LockTTL is how long the run lock outlives a holder that stops
	// extending it (0: DefaultLockTTL). A run extends it every LockTTL/3.
	LockTTL time.Duration
	// Reconcile bounds the reconciliation at the start of a run (0:
	// DefaultReconcileTimeout), so a PostgreSQL that does not answer
	// leaves the rest of the budget to the sweep, which needs only Redis.
	Reconcile time.Duration
}

// DefaultReconcileTimeout leaves half of the default budget to the sweep
// when PostgreSQL is frozen; a reconciliation of the licenses changed in a
// minute takes milliseconds.
const DefaultReconcileTimeout = 20 * time.Second

// DefaultLockTTL is short so that a holder that dies (a crash, or Redis
// restarted from its append-only file with the lock in it) holds up the next
// run briefly, not for a whole budget.
const DefaultLockTTL = 15 * time.Second

// DefaultLimits keep every Redis call short, so a sweep never stalls the
// acquires queued behind it in Redis (make bench-scale judges the bound:
// BENCHMARKS.md), and a run well inside a minute (the scheduler's period).
func DefaultLimits() Limits {
	return Limits{Budget: 40 * time.Second, ScanPage: 200, SweepBatch: 50, DrainBatch: 250, LockTTL: DefaultLockTTL,
		Reconcile: DefaultReconcileTimeout}
}

// Result says what a run did.
type Result struct {
	Skipped bool // another run holds the lock
	// Reconciled is how many licenses changed in PostgreSQL since the last
	// complete reconciliation were written through to Redis again.
	Reconciled int
	Licenses   int   // licenses visited
	Expired    int   // sessions swept and recorded as expired
	Drained    int   // ledger entries newly stored in PostgreSQL
	Read       int64 // ledger entries read (trimmed once stored)
	Complete   bool  // the run reached the end of the registry
	// Lag is how long the oldest ledger entry the run read had waited in
	// Redis when it was read (its stream id's time to the read), 0 when the
	// run read none: below the schedule's period while draining keeps up,
	// growing for as long as PostgreSQL is down.
	Lag time.Duration
	// SeatAlerts is how many utilization events the sampling after the
	// drain added (WithSeatAlerts).
	SeatAlerts int
}

// Reconciler writes through to Redis every license changed in the system of
// record since a mark, and returns the mark to pass next time: the mark
// moves on only when every such license was written (0: from the start,
// every license). shared/licensing's Service is one; the cleaner keeps the
// mark in Redis, beside what it describes.
type Reconciler interface {
	Reconcile(ctx context.Context, mark uint64) (next uint64, written int, err error)
}

// Observer is told the outcome of every run, e.g. to export metrics. It
// must not block: it runs on the cleanup's own goroutine.
type Observer interface {
	CleanupRun(res Result, took time.Duration, err error)
}

// SeatAlerts samples the seats in use once the ledger is drained and adds
// the utilization events due (shared/outbox's Store is one).
type SeatAlerts interface {
	TickSeatAlerts(ctx context.Context, now time.Time) (int, error)
}

// Option configures a Cleaner.
type Option func(*Cleaner)

// WithObserver has o told about every run.
func WithObserver(o Observer) Option {
	return func(c *Cleaner) { c.observer = o }
}

// WithSeatAlerts has every run that drained without error sample the seats
// in use through a.
func WithSeatAlerts(a SeatAlerts) Option {
	return func(c *Cleaner) { c.alerts = a }
}

// Cleaner runs the sweep and the drain.
type Cleaner struct {
	seats     *seats.Engine
	ledger    *usage.Store
	reconcile Reconciler
	rdb       redis.UniversalClient
	lock      string
	cursor    string
	// mark is the key of the reconciliation's mark. It lives in the Redis
	// it describes: a Redis restored from an older snapshot brings back
	// the older mark with the older licenses, and the next run writes
	// through everything changed since; a mark kept in PostgreSQL would
	// stay ahead and leave them stale.
	mark   string
	unlock *redis.Script
	extend *redis.Script
	limits Limits
	logger *slog.Logger
	// observer, when set, is told about every run.
	observer Observer
	// alerts, when set, samples the seats in use after the drain.
	alerts SeatAlerts
}

// New returns a cleaner. prefix is the Redis key prefix of the engine;
// reconciler writes changed licenses through to it.
func New(rdb redis.UniversalClient, prefix string, engine *seats.Engine, ledger *usage.Store, reconciler Reconciler,
	limits Limits, logger *slog.Logger, opts ...Option) (*Cleaner, error) {
	if rdb == nil || engine == nil || ledger == nil || reconciler == nil || logger == nil {
		return nil, errors.New("cleanup: missing dependency")
	}
	if limits.Budget <= 0 || limits.ScanPage <= 0 || limits.SweepBatch <= 0 || limits.DrainBatch <= 0 {
		return nil, fmt.Errorf("cleanup: limits must be positive: %+v", limits)
	}
	scripts := lua.Load()
	c := &Cleaner{seats: engine, ledger: ledger, reconcile: reconciler, rdb: rdb, limits: limits, logger: logger,
		lock: prefix + "{cleanup}:lock", cursor: prefix + "{cleanup}:cursor", mark: prefix + "{cleanup}:reconciled",
		unlock: redis.NewScript(scripts.Unlock.Source), extend: redis.NewScript(scripts.ExtendLock.Source)}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Run does one bounded cleanup. It returns an error only when retrying could
// help (Redis or PostgreSQL unreachable); the work done before the error
// stays done.
func (c *Cleaner) Run(ctx context.Context) (Result, error) {
	start := time.Now()
	res, err := c.run(ctx)
	if c.observer != nil {
		c.observer.CleanupRun(res, time.Since(start), err)
	}
	return res, err
}

func (c *Cleaner) run(ctx context.Context) (Result, error) {
	held, release, err := c.acquireLock(ctx)
	if err != nil || !held {
		return Result{Skipped: !held}, err
	}
	defer release()

	deadline := time.Now().Add(c.limits.Budget)
	var res Result
	// Reconciliation first: a revocation in effect matters more than a
	// sweep (expired sessions never count anyway). A failure, PostgreSQL
	// down most likely, must not stop the sweep (Redis alone); it is
	// reported with the run's result, and the next run tries again from the
	// same mark.
	reconcileErr := c.reconcileChanges(ctx, &res)
	cursor, err := c.rdb.Get(ctx, c.cursor).Uint64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return res, errors.Join(reconcileErr, fmt.Errorf("cleanup: read cursor: %w", err))
	}
	// A reconciliation that found PostgreSQL down or frozen (it failed as
	// unavailable after its bound) means a drain would wait as long again
	// for the same answer: this run only sweeps, so it still ends within
	// one database bound. Any other failure (one license Redis would not
	// take) leaves the drains to run.
	drains := !httpjson.Unavailable(reconcileErr)
	var drainErr error
	for {
		ids, next, err := c.seats.ScanLicenses(ctx, cursor, c.limits.ScanPage)
		if err != nil {
			return res, errors.Join(reconcileErr, err)
		}
		pending, err := c.sweep(ctx, ids, deadline, &res)
		if err != nil {
			return res, errors.Join(reconcileErr, err)
		}
		if drains && drainErr == nil {
			// PostgreSQL being down must not stop the sweep (Redis alone),
			// so a failed drain only skips the rest of this run's drains.
			drainErr = c.drain(ctx, pending, deadline, &res)
		}
		res.Licenses += len(ids)
		cursor = next
		if err := c.rdb.Set(ctx, c.cursor, strconv.FormatUint(cursor, 10), 0).Err(); err != nil {
			return res, errors.Join(reconcileErr, fmt.Errorf("cleanup: save cursor: %w", err))
		}
		if cursor == 0 {
			res.Complete = true
			break
		}
		if time.Now().After(deadline) {
			break
		}
	}
	// The sample is only as fresh as the ledger: after a failed drain (or
	// none, PostgreSQL being down) it would read stale sessions, and the
	// next run samples anyway.
	if c.alerts != nil && drains && drainErr == nil {
		n, err := c.alerts.TickSeatAlerts(ctx, time.Now())
		res.SeatAlerts = n
		drainErr = err
	}
	return res, errors.Join(reconcileErr, drainErr)
}

// reconcileChanges has every license changed since the mark written through
// to Redis, then moves the mark on. The mark is written only after every
// license was (the Reconciler returns the old mark otherwise), so a run that
// fails part-way skips nothing: the next one starts from the same mark.
func (c *Cleaner) reconcileChanges(ctx context.Context, res *Result) error {
	timeout := c.limits.Reconcile
	if timeout <= 0 {
		timeout = DefaultReconcileTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	mark, err := c.rdb.Get(ctx, c.mark).Uint64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("cleanup: read reconciliation mark: %w", err)
	}
	next, written, err := c.reconcile.Reconcile(ctx, mark)
	res.Reconciled = written
	if err != nil {
		return fmt.Errorf("cleanup: reconcile: %w", err)
	}
	if next == mark {
		return nil
	}
	if err := c.rdb.Set(ctx, c.mark, strconv.FormatUint(next, 10), 0).Err(); err != nil {
		return fmt.Errorf("cleanup: save reconciliation mark: %w", err)
	}
	return nil
}

// sweep drops the expired sessions of ids, calling again for licenses with
// more; it returns the licenses with ledger entries to drain.
func (c *Cleaner) sweep(ctx context.Context, ids []string, deadline time.Time, res *Result) ([]string, error) {
	var pending []string
	for len(ids) > 0 {
		results, err := c.seats.Sweep(ctx, ids, c.limits.SweepBatch)
		if err != nil {
			return nil, err
		}
		ids = ids[:0:0]
		for _, r := range results {
			res.Expired += r.Expired
			if r.More && time.Now().Before(deadline) {
				ids = append(ids, r.LicenseID)
			} else if r.Pending > 0 {
				pending = append(pending, r.LicenseID)
			}
		}
	}
	return pending, nil
}

// drain moves each license's ledger entries to PostgreSQL, trimming from
// Redis only what is committed. A drain that dies between the two leaves the
// entries in Redis; the next one stores them again as no-ops and trims.
func (c *Cleaner) drain(ctx context.Context, ids []string, deadline time.Time, res *Result) error {
	for len(ids) > 0 && time.Now().Before(deadline) {
		var err error
		if ids, err = c.drainPage(ctx, ids, res); err != nil {
			return err
		}
	}
	return nil
}

// drainPage moves one batch of each license's ledger to PostgreSQL: one
// pipelined read, one transaction (a transaction per license would make a
// drain of many small ledgers a long series of commits), then one pipelined
// trim of what was committed. A drain that dies between commit and trim
// leaves the entries in Redis; the next stores them again as no-ops. It
// adds to res and returns the licenses with more to drain.
func (c *Cleaner) drainPage(ctx context.Context, ids []string, res *Result) ([]string, error) {
	read, err := c.seats.EventsOf(ctx, ids, c.limits.DrainBatch)
	if err != nil {
		return nil, err
	}
	readAt := time.Now()
	batches := make([]usage.Batch, 0, len(read))
	for _, id := range ids {
		events := read[id]
		if len(events) == 0 {
			continue
		}
		res.Read += int64(len(events))
		// Entries come oldest first: the first one waited longest.
		if oldest := streamTime(events[0].ID); !oldest.IsZero() {
			res.Lag = max(res.Lag, readAt.Sub(oldest))
		}
		batches = append(batches, usage.Batch{LicenseID: id, Events: c.valid(id, events)})
	}
	stored, unknown, err := c.ledger.RecordAll(ctx, batches)
	if err != nil {
		return nil, err
	}
	res.Drained += stored
	kept := make(map[string]bool, len(unknown))
	for _, id := range unknown {
		// Kept in Redis, not dropped: a license PostgreSQL does not know is
		// a misconfiguration to look at, not data to lose.
		c.logger.Error("ledger entries of a license PostgreSQL does not know; kept in Redis", "license_id", id)
		kept[id] = true
	}
	through := make(map[string]string, len(read))
	var more []string
	for id, events := range read {
		if len(events) == 0 || kept[id] {
			continue
		}
		through[id] = events[len(events)-1].ID
		if int64(len(events)) == c.limits.DrainBatch {
			more = append(more, id)
		}
	}
	if err := c.seats.TrimEventsOf(ctx, through); err != nil {
		return nil, err
	}
	return more, nil
}

// valid keeps the entries the scripts could have written. Only they write
// these streams; any other entry can never be stored, so it is logged and
// trimmed with the rest.
func (c *Cleaner) valid(licenseID string, events []seats.Event) []seats.Event {
	out := events[:0:0]
	for _, ev := range events {
		if ev.Valid() {
			out = append(out, ev)
			continue
		}
		c.logger.Error("dropping malformed ledger entry", "license_id", licenseID, "entry_id", ev.ID, "kind", ev.Kind)
	}
	return out
}

// DrainOnce moves one batch of a license's ledger to PostgreSQL, as a run
// does; the Result says how many entries it read and how many were new.
func (c *Cleaner) DrainOnce(ctx context.Context, licenseID string) (Result, error) {
	var res Result
	_, err := c.drainPage(ctx, []string{licenseID}, &res)
	return res, err
}

// streamTime is the time in a stream entry id ("ms-seq"), zero if it has none.
func streamTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n)
}

// acquireLock takes the run lock and keeps extending it until release,
// which gives it back only if it is still ours.
func (c *Cleaner) acquireLock(ctx context.Context) (bool, func(), error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return false, nil, fmt.Errorf("cleanup: lock token: %w", err)
	}
	token := hex.EncodeToString(b)
	lockTTL := c.limits.LockTTL
	if lockTTL <= 0 {
		lockTTL = DefaultLockTTL
	}
	ok, err := c.rdb.SetNX(ctx, c.lock, token, lockTTL).Result()
	if err != nil {
		return true, nil, fmt.Errorf("cleanup: take lock: %w", err)
	}
	if !ok {
		return false, nil, nil
	}
	stop := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(lockTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			// A failed extension is only logged: the lock then lapses and
			// at worst another run overlaps this one, which counts nothing
			// twice.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lockTTL/3)
			err := c.extend.Run(ctx, c.rdb, []string{c.lock}, token, lockTTL.Milliseconds()).Err()
			cancel()
			if err != nil {
				c.logger.Warn("cleanup: extending lock", "error", err.Error())
			}
		}
	}()
	release := func() {
		close(stop)
		<-stopped
		// A fresh context: the run's may be done, and a lock left behind
		// would only delay the next run until its TTL.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := c.unlock.Run(ctx, c.rdb, []string{c.lock}, token).Err(); err != nil {
			c.logger.Warn("cleanup: releasing lock", "error", err.Error())
		}
	}
	return true, release, nil
}
