package health

import (
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it: ready when Redis
// and PostgreSQL answer.
func Spec() function.Spec {
	return function.Spec{Name: Name, HTTP: func(d function.Deps) (route.Function, error) {
		return New(
			Check{Name: "redis", Ping: d.Backend.PingRedis},
			Check{Name: "postgres", Ping: d.Backend.DB.Ping},
		)
	}}
}
