package licenses

import (
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it: the root key signs
// its license certificates.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleAdmin, Admin: true, Nudges: true, Root: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			b := d.Backend
			return New(d.Authn, b.Licenses, b.Licensing, b.Seats, &lease.Certifier{Root: d.Root, Issuer: d.Issuer})
		}}
}
