package keys

import (
	"context"
	"fmt"

	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it: it publishes the
// root public keys, which it only reads (no signer, no delegation), and
// needs no backend, so it starts without Redis or PostgreSQL.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{RootPublicKeys: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			if d.RootPublicKeys == nil {
				return route.Function{}, fmt.Errorf("keys: no root public keys")
			}
			roots, err := d.RootPublicKeys.PublicKeys(context.Background())
			if err != nil {
				return route.Function{}, fmt.Errorf("reading the root public keys: %w", err)
			}
			return New(roots)
		}}
}
