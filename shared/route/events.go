package route

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/tokens"
)

// EventRunDeadline bounds how long one CloudEvent call may take to answer:
// beyond a cleanup run's budget, and longer than the server's write
// timeout for API calls.
const EventRunDeadline = 2 * time.Minute

// CloudEvents serves a CloudEvent function over HTTP, as its triggers send
// events: a POST carrying a CloudEvent in binary or structured mode
// (functions-framework-go's contract). A request that carries none is a 400,
// unless manual names an event type: then a plain POST runs the function
// with a fresh event of that type (the local server's POST /internal/cleanup).
// An error from the function is a 503 with Retry-After, which asks the
// trigger to deliver the event again.
func CloudEvents(fn func(context.Context, event.Event) error, manual string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			httpjson.WriteError(w, r, httpjson.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "POST only"))
			return
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(EventRunDeadline))
		e, err := readEvent(r, manual)
		if err != nil {
			httpjson.WriteError(w, r, httpjson.Invalid("not a CloudEvent: %v", err))
			return
		}
		if err := fn(r.Context(), *e); err != nil {
			httpjson.WriteError(w, r, &httpjson.Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
				Message: "the event could not be handled; retry", RetryAfter: 5, Cause: err})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// readEvent reads the request's CloudEvent, or makes a manual one.
func readEvent(r *http.Request, manual string) (*event.Event, error) {
	structured := strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents")
	if r.Header.Get("Ce-Specversion") != "" || structured || manual == "" {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			return nil, err
		}
		// The SDK reads an event without its required attributes (an id,
		// a source); functions-framework refuses those, and so do we.
		if err := e.Validate(); err != nil {
			return nil, err
		}
		return e, nil
	}
	id, err := tokens.NewUUID()
	if err != nil {
		return nil, err
	}
	e := event.New()
	e.SetType(manual)
	e.SetSource(r.URL.Path)
	e.SetID(id)
	return &e, nil
}
