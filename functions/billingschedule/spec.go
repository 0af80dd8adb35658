package billingschedule

import (
	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/metering"
	"github.com/coditect-ai/license-server/shared/stripeclient"
)

// Spec is the function as the entry points deploy it: the background
// database role, and Stripe's API (the usage it reports).
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleCleanup, Stripe: true},
		Event: func(d function.Deps) (function.EventHandler, error) {
			client, err := stripeclient.New(d.Billing.StripeAPIKey, d.Billing.StripeAPIURL)
			if err != nil {
				return nil, err
			}
			r, err := metering.New(d.Backend.DB, d.Backend.Usage, metering.EngineLedger{Engine: d.Backend.Seats},
				metering.StripeSender{Client: client}, d.Logger)
			if err != nil {
				return nil, err
			}
			f, err := New(d.Backend.DB, d.Backend.Licenses, d.Backend.Licensing, r, nil, d.Logger)
			if err != nil {
				return nil, err
			}
			return f.Handle, nil
		}}
}
