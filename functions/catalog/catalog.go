// Package catalog lists every function with its dependencies wired, for the
// two ways they are served: one at a time behind functions-framework in
// production (cmd/function), all together in the local server
// (cmd/devserver). Both get the same routes from here.
package catalog

import (
	"fmt"

	"github.com/coditect-ai/license-server/functions/acquire"
	"github.com/coditect-ai/license-server/functions/health"
	"github.com/coditect-ai/license-server/functions/heartbeat"
	"github.com/coditect-ai/license-server/functions/licenses"
	"github.com/coditect-ai/license-server/functions/release"
	"github.com/coditect-ai/license-server/functions/tenants"
	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/backend"
	"github.com/coditect-ai/license-server/shared/route"
)

// Names returns the function names FUNCTION_TARGET accepts.
func Names() []string {
	return []string{health.Name, acquire.Name, heartbeat.Name, release.Name, tenants.Name, licenses.Name}
}

// All builds every function on the backend.
func All(b *backend.Backend, admin *auth.Admin) ([]route.Function, error) {
	builders := []func() (route.Function, error){
		func() (route.Function, error) {
			return health.New(
				health.Check{Name: "redis", Ping: b.PingRedis},
				health.Check{Name: "postgres", Ping: b.DB.Ping},
			)
		},
		func() (route.Function, error) { return acquire.New(b.Seats) },
		func() (route.Function, error) { return heartbeat.New(b.Seats) },
		func() (route.Function, error) { return release.New(b.Seats) },
		func() (route.Function, error) { return tenants.New(admin, b.Tenants, b.Licenses, b.Seats) },
		func() (route.Function, error) { return licenses.New(admin, b.Licenses, b.Tenants, b.Seats) },
	}
	out := make([]route.Function, 0, len(builders))
	for _, build := range builders {
		f, err := build()
		if err != nil {
			return nil, fmt.Errorf("building function: %w", err)
		}
		out = append(out, f)
	}
	return out, nil
}
