package keys

import (
	"context"
	"fmt"

	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it: it publishes the
// root public keys and this instance's delegation, which need the root key
// and no backend, so it starts without Redis or PostgreSQL.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Signer: true, Root: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			roots, err := d.Root.PublicKeys(context.Background())
			if err != nil {
				return route.Function{}, fmt.Errorf("reading the root public keys: %w", err)
			}
			return New(roots, d.Signer)
		}}
}
