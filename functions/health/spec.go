package health

import (
	"errors"

	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it: ready when Redis
// and PostgreSQL answer their protocols. It probes them without their
// credentials (function.Needs.Probes), so its deployment holds no password.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Probes: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			if len(d.Probes) == 0 {
				return route.Function{}, errors.New("health: no readiness probes")
			}
			checks := make([]Check, len(d.Probes))
			for i, p := range d.Probes {
				checks[i] = Check{Name: p.Name, Ping: p.Ping}
			}
			return New(checks...)
		}}
}
