package cleanup

import (
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
)

// Spec is the function as the entry points deploy it: a CloudEvent
// function that needs only Redis and PostgreSQL.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleCleanup}, Event: func(d function.Deps) (function.EventHandler, error) {
		f, err := New(d.Backend.Cleaner, d.Logger)
		if err != nil {
			return nil, err
		}
		return f.Handle, nil
	}}
}
