// Package cleanup is the Cleanup function: a CloudEvent function that a
// schedule triggers to sweep expired sessions (recording them as expired)
// and drain the usage ledger from Redis into PostgreSQL.
//
// It accepts the two schedules it meets: Cloud Scheduler → Pub/Sub →
// Eventarc (google.cloud.pubsub.topic.v1.messagePublished) in production,
// and Knative Eventing's PingSource (dev.knative.sources.ping). The payload
// carries nothing it needs: each event just means "run now".
package cleanup

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/coditect-ai/license-server/shared/cleanup"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Cleanup"

// Event types the function runs on.
const (
	TypePubSub = "google.cloud.pubsub.topic.v1.messagePublished"
	TypePing   = "dev.knative.sources.ping"
	// TypeManual is the event the local server's POST /internal/cleanup
	// makes when the request carries no CloudEvent of its own.
	TypeManual = "ai.coditect.cleanup.manual"
)

// Function runs a cleanup per event.
type Function struct {
	cleaner *cleanup.Cleaner
	logger  *slog.Logger
}

// New returns the function.
func New(cleaner *cleanup.Cleaner, logger *slog.Logger) (*Function, error) {
	if cleaner == nil || logger == nil {
		return nil, errors.New("cleanup: missing dependency")
	}
	return &Function{cleaner: cleaner, logger: logger}, nil
}

// Handle is the CloudEvent function. An error asks the trigger to deliver
// the event again, so it is returned only when a retry could succeed (Redis
// or PostgreSQL unreachable); an event of a type it does not know is logged
// and acknowledged, never redelivered forever.
func (f *Function) Handle(ctx context.Context, e event.Event) error {
	switch e.Type() {
	case TypePubSub, TypePing, TypeManual:
	default:
		f.logger.Warn("cleanup: ignoring event of unknown type", "type", e.Type(), "source", e.Source(), "id", e.ID())
		return nil
	}
	start := time.Now()
	res, err := f.cleaner.Run(ctx)
	attrs := []any{"type", e.Type(), "id", e.ID(), "skipped", res.Skipped, "reconciled", res.Reconciled, "licenses", res.Licenses,
		"expired", res.Expired, "drained", res.Drained, "complete", res.Complete,
		"duration_ms", time.Since(start).Milliseconds()}
	if err != nil {
		f.logger.Error("cleanup run failed", append(attrs, "error", err.Error())...)
		return err
	}
	f.logger.Info("cleanup run", attrs...)
	return nil
}
