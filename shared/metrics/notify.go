package metrics

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// notifyInstruments are the notification pipeline's (shared/notify):
// events handed on from the outbox, webhook attempts and mails by outcome,
// how long events waited and attempts took, and the oldest pending event.
type notifyInstruments struct {
	events      metric.Int64Counter
	eventAge    metric.Float64Histogram
	attempts    metric.Int64Counter
	attemptTime metric.Float64Histogram
	mails       metric.Int64Counter
	// oldest is the oldest pending event's age in nanoseconds; -1 until a
	// run has looked.
	oldest atomic.Int64
}

// Event ages: from a commit to its hand-on (a nudge: about a second; a
// sweep: up to a minute; an outage: hours).
var notifyAgeBuckets = []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600}

func (m *Metrics) notifyInstruments(meter metric.Meter) error {
	n := &m.notify
	var errs []error
	var err error
	n.events, err = meter.Int64Counter("license_notify_events", metric.WithDescription("Outbox events handed on to their webhook deliveries and mails, by event type."))
	errs = append(errs, err)
	n.eventAge, err = meter.Float64Histogram("license_notify_event_delay", metric.WithUnit("s"),
		metric.WithDescription("How long an event waited in the outbox before it was handed on."), metric.WithExplicitBucketBoundaries(notifyAgeBuckets...))
	errs = append(errs, err)
	n.attempts, err = meter.Int64Counter("license_notify_webhook_attempts", metric.WithDescription("Webhook delivery attempts by outcome: delivered, retry (another attempt is scheduled) or failed."))
	errs = append(errs, err)
	n.attemptTime, err = meter.Float64Histogram("license_notify_webhook_attempt_duration", metric.WithUnit("s"),
		metric.WithDescription("Time a webhook attempt took, to the response or the failure."), metric.WithExplicitBucketBoundaries(requestBuckets...))
	errs = append(errs, err)
	n.mails, err = meter.Int64Counter("license_notify_mails", metric.WithDescription("Mails by outcome: sent, retry or failed."))
	errs = append(errs, err)
	oldest, err := meter.Float64ObservableGauge("license_notify_oldest_pending_event_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest outbox event not yet handed on, as this instance's last notify run saw it (0: none)."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	n.oldest.Store(-1)
	if _, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		if ns := n.oldest.Load(); ns >= 0 {
			o.ObserveFloat64(oldest, time.Duration(ns).Seconds())
		}
		return nil
	}, oldest); err != nil {
		return fmt.Errorf("registering the oldest pending event gauge: %w", err)
	}
	return nil
}

func with(k, v string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(k, v)))
}

// EventHandedOn counts an event handed on and how long it waited. A nil
// Metrics records nothing (as every method here).
func (m *Metrics) EventHandedOn(eventType string, age time.Duration) {
	if m == nil {
		return
	}
	m.notify.events.Add(context.Background(), 1, with("type", eventType))
	m.notify.eventAge.Record(context.Background(), max(age, 0).Seconds())
}

// WebhookAttempt counts an attempt by outcome and records how long it took.
func (m *Metrics) WebhookAttempt(outcome string, latency time.Duration) {
	if m == nil {
		return
	}
	m.notify.attempts.Add(context.Background(), 1, with("outcome", outcome))
	m.notify.attemptTime.Record(context.Background(), latency.Seconds())
}

// MailAttempt counts a mail by outcome.
func (m *Metrics) MailAttempt(outcome string) {
	if m == nil {
		return
	}
	m.notify.mails.Add(context.Background(), 1, with("outcome", outcome))
}

// OldestPending sets the oldest pending event's age.
func (m *Metrics) OldestPending(age time.Duration) {
	if m == nil {
		return
	}
	m.notify.oldest.Store(int64(max(age, 0)))
}
