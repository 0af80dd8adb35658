package billing

import (
	"github.com/coditect-ai/license-server/shared/billing"
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/stripeclient"
)

// Spec is the function as the entry points deploy it: it writes tenants,
// licenses and memberships as the admin role, calls Stripe, checks its
// webhooks' signatures, and nudges Notify after its changes (the buyer's
// invitation, license events).
func Spec() function.Spec {
	return function.Spec{Name: Name,
		// The webhook takes no Idempotency-Key: Stripe's event id makes a
		// redelivery harmless (applied once). The portal does.
		Idempotency: function.Idempotency{Skip: true, Keyed: []string{PortalPattern}},
		Needs:       function.Needs{Redis: true, Database: database.RoleAdmin, Admin: true, Nudges: true, Stripe: true, StripeWebhook: true},
		HTTP: func(d function.Deps) (route.Function, error) {
			client, err := stripeclient.New(d.Billing.StripeAPIKey, d.Billing.StripeAPIURL)
			if err != nil {
				return route.Function{}, err
			}
			applier, err := billing.NewApplier(d.Backend.DB, d.Billing.Grace)
			if err != nil {
				return route.Function{}, err
			}
			accounts, err := billing.NewAccounts(d.Backend.DB)
			if err != nil {
				return route.Function{}, err
			}
			return New(Config{Authn: d.Authn, Applier: applier, Accounts: accounts, Stripe: client,
				WebhookSecret: d.Billing.StripeWebhookSecret, Licensing: d.Backend.Licensing,
				PortalReturnURL: d.Billing.PortalReturnURL, Logger: d.Logger})
		}}
}
