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
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/coditect-ai/license-server/shared/cleanup"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Cleanup"

// Event types the function runs on.
const (
	TypePubSub = "google.cloud.pubsub.topic.v1.messagePublished"
	TypePing   = "dev.knative.sources.ping"
	// TypeManual is what the local server's POST /internal/cleanup sends
	// when the request carries no CloudEvent of its own.
	TypeManual = "ai.coditect.cleanup.manual"
)

// runDeadline bounds how long POST /internal/cleanup may take to answer:
// beyond a run's budget (cleanup.DefaultLimits).
const runDeadline = 2 * time.Minute

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
	attrs := []any{"type", e.Type(), "id", e.ID(), "skipped", res.Skipped, "licenses", res.Licenses,
		"expired", res.Expired, "drained", res.Drained, "complete", res.Complete,
		"duration_ms", time.Since(start).Milliseconds()}
	if err != nil {
		f.logger.Error("cleanup run failed", append(attrs, "error", err.Error())...)
		return err
	}
	f.logger.Info("cleanup run", attrs...)
	return nil
}

// HTTP serves the function over HTTP for the local server's
// POST /internal/cleanup: a CloudEvent in binary or structured mode, as the
// triggers send it, or a plain POST to run it by hand. A malformed event is
// a 400 (functions-framework answers those itself in production).
func (f *Function) HTTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			httpjson.WriteError(w, r, httpjson.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "POST only"))
			return
		}
		// A run may take its whole budget, longer than the local server's
		// write timeout for API calls.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(runDeadline))
		e, err := f.event(r)
		if err != nil {
			httpjson.WriteError(w, r, httpjson.Invalid("not a CloudEvent: %v", err))
			return
		}
		if err := f.Handle(r.Context(), *e); err != nil {
			httpjson.WriteError(w, r, &httpjson.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
				Message: "cleanup could not finish; retry", RetryAfter: 5, Cause: err})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// event reads the request's CloudEvent; a request without one is a manual run.
func (f *Function) event(r *http.Request) (*event.Event, error) {
	structured := strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents")
	if r.Header.Get("Ce-Specversion") != "" || structured {
		return cehttp.NewEventFromHTTPRequest(r)
	}
	id, err := tokens.NewUUID()
	if err != nil {
		return nil, err
	}
	e := event.New()
	e.SetType(TypeManual)
	e.SetSource("/internal/cleanup")
	e.SetID(id)
	return &e, nil
}
