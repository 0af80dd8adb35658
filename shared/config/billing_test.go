package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/config"
)

func TestBillingSettings(t *testing.T) {
	t.Parallel()
	c, err := config.Load(config.MapLookup(map[string]string{"STRIPE_API_KEY": "sk_test_1", "STRIPE_WEBHOOK_SECRET": "whsec_1",
		"STRIPE_API_URL": "http://127.0.0.1:12111"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Billing.Grace != config.DefaultBillingGrace || c.Billing.StripeAPIKey != "sk_test_1" ||
		c.Billing.StripeWebhookSecret != "whsec_1" || c.Billing.StripeAPIURL != "http://127.0.0.1:12111" {
		t.Fatalf("billing = %+v", c.Billing)
	}
	c, err = config.Load(config.MapLookup(map[string]string{"BILLING_GRACE": "24h"}))
	if err != nil || c.Billing.Grace != 24*time.Hour {
		t.Fatalf("grace = %v, %v", c.Billing.Grace, err)
	}
	for _, bad := range []map[string]string{{"BILLING_GRACE": "soon"}, {"BILLING_GRACE": "-1h"}, {"BILLING_GRACE": "2161h"},
		{"STRIPE_API_URL": "ftp://x"}, {"BILLING_PORTAL_RETURN_URL": "not a url"}} {
		if _, err := config.Load(config.MapLookup(bad)); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
	// A function that calls Stripe or checks its webhooks does not start
	// without the key it uses.
	err = config.Config{}.RequireBackends(config.Needs{Stripe: true, StripeWebhook: true})
	if err == nil || !strings.Contains(err.Error(), "STRIPE_API_KEY") || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET") {
		t.Fatalf("RequireBackends = %v", err)
	}
}
