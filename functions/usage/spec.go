package usage

import (
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/metering"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleReader, Admin: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			billed, err := metering.NewReports(d.Backend.DB)
			if err != nil {
				return route.Function{}, err
			}
			return New(d.Authn, d.Backend.Usage, d.Backend.Licensing, billed)
		}}
}
