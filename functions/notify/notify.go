// Package notify is the Notify function: a CloudEvent function that hands
// the outbox's events on to webhook deliveries and mails and makes them
// (shared/notify), and produces the scheduled events (license expiry,
// weekly usage summaries) first, so a run delivers what it produced.
//
// Two triggers run it, and each event just means "run now": the nudge a
// function publishes right after a commit that appended events (Pub/Sub
// topic license-notify), and the scheduled sweep every minute (Cloud
// Scheduler → Pub/Sub), which picks up whatever a lost nudge left. Both
// arrive as google.cloud.pubsub.topic.v1.messagePublished; Knative's
// PingSource and make run's timer are accepted too.
package notify

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/coditect-ai/license-server/shared/notify"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Notify"

// Event types the function runs on.
const (
	TypePubSub = "google.cloud.pubsub.topic.v1.messagePublished"
	TypePing   = "dev.knative.sources.ping"
	// TypeManual is the event make run's timer and nudges make.
	TypeManual = "ai.coditect.notify.manual"
)

// Scheduler produces the scheduled events (outbox.Store.Schedule).
type Scheduler interface {
	Schedule(ctx context.Context, now time.Time) error
}

// Function runs a delivery per event.
type Function struct {
	deliverer *notify.Deliverer
	schedule  Scheduler
	now       func() time.Time
	logger    *slog.Logger
}

// New returns the function.
func New(d *notify.Deliverer, s Scheduler, now func() time.Time, logger *slog.Logger) (*Function, error) {
	if d == nil || s == nil || logger == nil {
		return nil, errors.New("notify: missing dependency")
	}
	if now == nil {
		now = time.Now
	}
	return &Function{deliverer: d, schedule: s, now: now, logger: logger}, nil
}

// Handle is the CloudEvent function. An error asks the trigger to deliver
// the event again, so it is returned only when PostgreSQL failed (a retry
// could succeed); a failed webhook or mail is the deliveries' own business,
// retried on their schedule. An event of a type it does not know is logged
// and acknowledged.
func (f *Function) Handle(ctx context.Context, e event.Event) error {
	switch e.Type() {
	case TypePubSub, TypePing, TypeManual:
	default:
		f.logger.Warn("notify: ignoring event of unknown type", "type", e.Type(), "source", e.Source(), "id", e.ID())
		return nil
	}
	start := time.Now()
	var errs []error
	if err := f.schedule.Schedule(ctx, f.now()); err != nil {
		errs = append(errs, err)
	}
	res, err := f.deliverer.Run(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	attrs := []any{"type", e.Type(), "id", e.ID(), "events", res.Events, "queued", res.Queued, "mails_queued", res.MailsQueued,
		"delivered", res.Delivered, "retried", res.Retried, "failed", res.Failed, "disabled", res.Disabled,
		"sent", res.Sent, "mail_retried", res.MailRetried, "mail_failed", res.MailFailed,
		"duration_ms", time.Since(start).Milliseconds()}
	if err := errors.Join(errs...); err != nil {
		f.logger.Error("notify run failed", append(attrs, "error", err.Error())...)
		return err
	}
	if res != (notify.Result{}) {
		f.logger.Info("notify run", attrs...)
	}
	return nil
}
