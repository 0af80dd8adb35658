package console

import (
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it: static files and
// the sign-in settings, so it needs neither Redis nor PostgreSQL nor any
// credential.
func Spec() function.Spec {
	return function.Spec{Name: Name, HTTP: func(d function.Deps) (route.Function, error) {
		return New(Built(), d.Console)
	}}
}
