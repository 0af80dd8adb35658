package release

import (
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it. Its POSTs take no
// Idempotency-Key: a release names its session, so running one twice
// changes nothing more than running it once.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleSeats}, Idempotency: function.Idempotency{Skip: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			return New(d.Backend.Seats)
		}}
}
