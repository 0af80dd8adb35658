package notifications

import (
	"fmt"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/links"
	"github.com/coditect-ai/license-server/shared/notifications"
	"github.com/coditect-ai/license-server/shared/outbound"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/webhook"
)

// Spec is the function as the entry points deploy it: an admin function
// that seals webhook secrets and checks mail links (Notify), and nudges
// Notify after a test ping or a redelivery.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleAdmin, Admin: true,
		Notify: true, Nudges: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			sealer, err := webhook.NewSealer(d.Notify.SecretsKey)
			if err != nil {
				return route.Function{}, fmt.Errorf("NOTIFY_SECRETS_KEY: %w", err)
			}
			store, err := notifications.NewStore(d.Backend.DB, Secrets{sealer})
			if err != nil {
				return route.Function{}, err
			}
			signer, err := links.NewSigner(d.Notify.LinkKey, nil)
			if err != nil {
				return route.Function{}, fmt.Errorf("NOTIFY_LINK_KEY: %w", err)
			}
			return New(Config{Authn: d.Authn, Store: store, Licenses: d.Backend.Licensing, Links: signer,
				URLs: outbound.Policy{AllowHTTP: d.Notify.WebhookAllowHTTP, Allow: d.Notify.WebhookAllowCIDRs}})
		}}
}

// Secrets makes and seals signing secrets (notifications.Secrets).
type Secrets struct{ *webhook.Sealer }

// New makes a signing secret.
func (Secrets) New() (string, error) { return webhook.NewSecret() }
