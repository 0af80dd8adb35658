// Package notify delivers the notification outbox (schema/010, 011): it
// hands each pending event on to the deliveries it causes (a webhook
// delivery per subscribed endpoint, a mail per recipient) and then makes
// those deliveries, each on its own retry schedule.
//
// # At least once, never lost
//
// Handing on is one transaction: the deliveries are inserted and the event
// marked in the same commit, or neither. A delivery is taken for an attempt
// by setting locked_until (a lease), attempted outside any transaction (an
// endpoint may take 10 s), and its outcome recorded after; a deliverer that
// dies mid-attempt leaves the lease to run out, and the next run attempts
// the delivery again. So an event can reach an endpoint twice (a receiver
// dedupes on webhook-id, the event's id), never zero times.
//
// # Order
//
// One endpoint receives the events of one license in the order they were
// made (outbox seq): a delivery waits while an earlier one with the same
// license is pending, retries included. Events of different licenses, and
// events about no license, do not wait for each other.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/webhook"
)

// Sender makes one webhook attempt (shared/webhook's Sender).
type Sender interface {
	Send(ctx context.Context, url string, m webhook.Message, secrets ...string) webhook.Result
}

// Opener opens the sealed signing secrets (shared/webhook's Sealer).
type Opener interface {
	Open(webhookID string, sealed []byte) (string, error)
}

// Observer is told what happens, for metrics. nil: nothing is told.
type Observer interface {
	// EventHandedOn: an event of the type left the outbox, age after it
	// was made.
	EventHandedOn(eventType string, age time.Duration)
	// WebhookAttempt: one attempt's outcome (delivered, retry, failed) and
	// how long it took.
	WebhookAttempt(outcome string, latency time.Duration)
	// MailAttempt: one mail's outcome (sent, retry, failed).
	MailAttempt(outcome string)
	// OldestPending: the age of the oldest event not yet handed on (0:
	// none).
	OldestPending(age time.Duration)
}

type noObserver struct{}

func (noObserver) EventHandedOn(string, time.Duration)  {}
func (noObserver) WebhookAttempt(string, time.Duration) {}
func (noObserver) MailAttempt(string)                   {}
func (noObserver) OldestPending(time.Duration)          {}

// Config is what a Deliverer is built from.
type Config struct {
	// DB logs in as the background role (license_cleanup).
	DB *database.DB
	// Webhooks attempts deliveries; Secrets opens their signing secrets.
	Webhooks Sender
	Secrets  Opener
	// Mail sends and renders mails (see MailConfig).
	Mail MailConfig
	// Now is the clock (nil: time.Now); Rand the jitter's source in [0,1)
	// (nil: math/rand/v2).
	Now  func() time.Time
	Rand func() float64
	// Workers bounds the attempts made at once (0: 8).
	Workers int
	// Batch bounds the events handed on, and the deliveries taken, per
	// transaction (0: 100).
	Batch    int
	Logger   *slog.Logger
	Observer Observer
}

// Deliverer hands events on and delivers them.
type Deliverer struct {
	db      *database.DB
	hooks   Sender
	secrets Opener
	mail    MailConfig
	now     func() time.Time
	rnd     func() float64
	workers int
	batch   int
	logger  *slog.Logger
	obs     Observer
}

// New returns a deliverer.
func New(c Config) (*Deliverer, error) {
	if c.DB == nil || c.Webhooks == nil || c.Secrets == nil || c.Logger == nil {
		return nil, errors.New("notify: missing dependency")
	}
	if err := c.Mail.check(); err != nil {
		return nil, err
	}
	d := &Deliverer{db: c.DB, hooks: c.Webhooks, secrets: c.Secrets, mail: c.Mail, now: c.Now, rnd: c.Rand,
		workers: c.Workers, batch: c.Batch, logger: c.Logger, obs: c.Observer}
	if d.now == nil {
		d.now = time.Now
	}
	if d.rnd == nil {
		d.rnd = rand.Float64
	}
	if d.workers <= 0 {
		d.workers = 8
	}
	if d.batch <= 0 {
		d.batch = 100
	}
	if d.obs == nil {
		d.obs = noObserver{}
	}
	return d, nil
}

// Result is what one run did.
type Result struct {
	// Events handed on, and the deliveries and mails they caused.
	Events, Queued, MailsQueued int
	// Webhook attempts by outcome.
	Delivered, Retried, Failed int
	// Endpoints disabled after three days of failures.
	Disabled int
	// Mails by outcome.
	Sent, MailRetried, MailFailed int
}

// maxRounds bounds one run's rounds of each step, so a run ends (the next
// one, a minute later or at the next commit, goes on).
const maxRounds = 50

// Run hands every pending event on, then makes every due delivery and
// sends every due mail, each step in rounds until nothing is left (or
// maxRounds). An error of one step does not keep the others from running;
// the errors are returned together.
func (d *Deliverer) Run(ctx context.Context) (Result, error) {
	var res Result
	var errs []error
	for range maxRounds {
		ev, q, m, err := d.fanOut(ctx)
		res.Events, res.Queued, res.MailsQueued = res.Events+ev, res.Queued+q, res.MailsQueued+m
		if err != nil {
			errs = append(errs, err)
			break
		}
		if ev < d.batch {
			break
		}
	}
	for range maxRounds {
		before := res.Delivered
		n, err := d.deliverDue(ctx, &res)
		if err != nil {
			errs = append(errs, err)
			break
		}
		// A delivery that succeeded may have been holding up its
		// license's next event: another round sends that now rather than
		// a minute later.
		if n < d.batch && res.Delivered == before {
			break
		}
	}
	for range maxRounds {
		n, err := d.sendDue(ctx, &res)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if n < d.batch {
			break
		}
	}
	if err := d.observeOldest(ctx); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

func (d *Deliverer) observeOldest(ctx context.Context) error {
	var oldest *time.Time
	err := d.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT min(created_at) FROM outbox_events WHERE delivered_at IS NULL`).Scan(&oldest)
	})
	if err != nil {
		return fmt.Errorf("reading the oldest pending event: %w", err)
	}
	var age time.Duration
	if oldest != nil {
		age = max(d.now().Sub(*oldest), 0)
	}
	d.obs.OldestPending(age)
	return nil
}

// parallel runs f on each item with at most d.workers at once.
func parallel[T any](workers int, items []T, f func(T)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for _, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(it)
		}()
	}
	wg.Wait()
}
