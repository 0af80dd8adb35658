package config

import (
	"fmt"
	"net/url"
	"time"
)

// Billing settings: what the billing functions (Billing, which takes
// Stripe's webhooks and serves a tenant's billing; BillingSchedule, which
// reports metered use and ends grace periods) need.
type Billing struct {
	// StripeAPIKey (STRIPE_API_KEY, a secret:// reference in production)
	// calls Stripe's API: a restricted key with write access to billing
	// meter events and customer-portal sessions, read access to the rest.
	StripeAPIKey string
	// StripeWebhookSecret (STRIPE_WEBHOOK_SECRET, whsec_…) checks the
	// Stripe-Signature of the webhooks Stripe sends.
	StripeWebhookSecret string
	// StripeAPIURL (STRIPE_API_URL) sends Stripe calls elsewhere:
	// stripe-mock in tests and make run. "" is Stripe.
	StripeAPIURL string
	// Grace (BILLING_GRACE, a Go duration, default 72h) is how long past
	// the paid period a license stays active: the time a retried payment
	// has before the license is suspended.
	Grace time.Duration
	// PortalReturnURL (BILLING_PORTAL_RETURN_URL) is where Stripe's
	// customer portal sends the admin back.
	PortalReturnURL string
}

// DefaultBillingGrace is BILLING_GRACE when unset.
const DefaultBillingGrace = 72 * time.Hour

func billingKeys() []string {
	return []string{"STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_URL", "BILLING_GRACE", "BILLING_PORTAL_RETURN_URL"}
}

func loadBilling(get Lookup) (Billing, error) {
	b := Billing{StripeAPIKey: str(get, "STRIPE_API_KEY", ""), StripeWebhookSecret: str(get, "STRIPE_WEBHOOK_SECRET", ""),
		StripeAPIURL: str(get, "STRIPE_API_URL", ""), PortalReturnURL: str(get, "BILLING_PORTAL_RETURN_URL", "https://api.coditect.ai/console/")}
	grace, err := time.ParseDuration(str(get, "BILLING_GRACE", DefaultBillingGrace.String()))
	if err != nil || grace < 0 || grace > 90*24*time.Hour {
		return b, fmt.Errorf("BILLING_GRACE must be a duration from 0 to 2160h")
	}
	b.Grace = grace
	for name, v := range map[string]string{"STRIPE_API_URL": b.StripeAPIURL, "BILLING_PORTAL_RETURN_URL": b.PortalReturnURL} {
		if v == "" {
			continue
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return b, fmt.Errorf("%s must be an http(s) URL", name)
		}
	}
	return b, nil
}
