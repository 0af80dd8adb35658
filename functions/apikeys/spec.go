package apikeys

import (
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleAdmin, Admin: true, Nudges: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			return New(d.Authn, d.Backend.APIKeys, d.Backend.Licensing)
		}}
}
