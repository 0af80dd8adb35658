// Package billingschedule is the BillingSchedule function: a CloudEvent
// function a schedule triggers every hour to do billing's timed work:
// suspend the licenses of subscriptions whose payment failed and whose
// grace has ended, renew the licenses with an auto_renew period on their
// expiry day (and write both through to Redis), then report the
// metered use of every complete, drained day to Stripe (shared/metering).
//
// Like Cleanup it accepts Cloud Scheduler → Pub/Sub → Eventarc
// (google.cloud.pubsub.topic.v1.messagePublished) and Knative's PingSource;
// each event just means "run now", and a run that repeats one changes
// nothing more.
package billingschedule

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/coditect-ai/license-server/shared/billing"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/metering"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "BillingSchedule"

// Event types the function runs on.
const (
	TypePubSub = "google.cloud.pubsub.topic.v1.messagePublished"
	TypePing   = "dev.knative.sources.ping"
	// TypeManual is the event make run's timer makes.
	TypeManual = "ai.coditect.billing.manual"
)

// Function runs billing's timed work per event.
type Function struct {
	db        *database.DB
	licenses  *licenses.Store
	licensing *licensing.Service
	reporter  *metering.Reporter
	now       func() time.Time
	logger    *slog.Logger
}

// New returns the function; db is the background role's.
func New(db *database.DB, ls *licenses.Store, lic *licensing.Service, r *metering.Reporter, now func() time.Time,
	logger *slog.Logger) (*Function, error) {
	if db == nil || ls == nil || lic == nil || r == nil || logger == nil {
		return nil, errors.New("billingschedule: missing dependency")
	}
	if now == nil {
		now = time.Now
	}
	return &Function{db: db, licenses: ls, licensing: lic, reporter: r, now: now, logger: logger}, nil
}

// Handle is the CloudEvent function. An error asks the trigger to deliver
// the event again: returned only when PostgreSQL failed.
func (f *Function) Handle(ctx context.Context, e event.Event) error {
	switch e.Type() {
	case TypePubSub, TypePing, TypeManual:
	default:
		f.logger.Warn("billingschedule: ignoring event of unknown type", "type", e.Type(), "source", e.Source(), "id", e.ID())
		return nil
	}
	now := f.now()
	suspended, err := billing.SuspendOverdue(ctx, f.db, now)
	if err != nil {
		f.logger.Error("billing schedule failed", "error", err.Error())
		return err
	}
	renewed, err := billing.AutoRenew(ctx, f.db, now)
	if err != nil {
		f.logger.Error("billing schedule failed", "error", err.Error())
		return err
	}
	for _, o := range append(suspended, renewed...) {
		l, err := f.licenses.Get(ctx, o.TenantID, o.LicenseID)
		if err == nil {
			err = f.licensing.SyncLicense(ctx, l)
		}
		if err != nil {
			// Committed: the reconciliation of changed licenses brings
			// Redis up to date if this write-through fails.
			f.logger.Warn("billing schedule: write-through failed", "license_id", o.LicenseID, "error", err.Error())
		}
	}
	// A day Stripe did not take stays for the next run: the error is
	// logged, and the event is not redelivered for it (the hourly run is
	// the retry).
	res, err := f.reporter.Run(ctx, now)
	if err != nil {
		f.logger.Error("billing schedule: metering", "error", err.Error())
	}
	f.logger.Info("billing schedule run", "type", e.Type(), "id", e.ID(), "suspended", len(suspended), "renewed", len(renewed),
		"meter_events", res.Sent, "days_waiting_for_drain", res.Skipped)
	return nil
}
