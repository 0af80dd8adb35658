// Package health is the Health function: liveness at /health/ (no
// dependencies, so a slow database never gets the pod killed) and readiness
// at /ready (Redis and PostgreSQL both answer, probed at the protocol level
// without credentials in production: see shared/probe).
package health

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Health"

// Check is one dependency readiness depends on.
type Check struct {
	Name string
	Ping func(ctx context.Context) error
}

// checkTimeout bounds each check so /ready answers before a probe times out.
const checkTimeout = 2 * time.Second

// New returns the function.
func New(checks ...Check) (route.Function, error) {
	for _, c := range checks {
		if c.Name == "" || c.Ping == nil {
			return route.Function{}, errors.New("health: incomplete check")
		}
	}
	ready := func(w http.ResponseWriter, r *http.Request) {
		results := make(map[string]string, len(checks))
		failed := ""
		for _, c := range checks {
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			err := c.Ping(ctx)
			cancel()
			results[c.Name] = "ok"
			if err != nil {
				results[c.Name] = "unavailable"
				if failed == "" {
					failed = c.Name
				}
			}
		}
		if failed != "" {
			httpjson.WriteError(w, r, &httpjson.Error{Status: http.StatusServiceUnavailable, Code: "not_ready",
				Message: failed + " is unavailable", RetryAfter: 1, Extra: map[string]any{"checks": results}})
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"status": "ready", "checks": results})
	}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: route.LivenessPattern, Methods: route.Methods{http.MethodGet: route.Live}},
		{Pattern: "/ready", Methods: route.Methods{http.MethodGet: ready}},
	}}, nil
}
