// Package stripeclient builds the Stripe API client the billing code uses:
// stripe-go's, with a deadline on every call, and pointed at another base
// URL when one is configured (stripe-mock in tests and make run).
package stripeclient

import (
	"errors"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v82"
)

// Timeout bounds each call to Stripe, retries included in none of it: a
// webhook or a scheduled run that waits longer is better retried whole.
const Timeout = 20 * time.Second

// New returns a client that calls Stripe with key. apiURL "" is Stripe
// itself; otherwise every call (the API and its uploads) goes there.
func New(key, apiURL string) (*stripe.Client, error) {
	if key == "" {
		return nil, errors.New("stripeclient: no API key")
	}
	cfg := &stripe.BackendConfig{HTTPClient: &http.Client{Timeout: Timeout}, MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError}}
	if apiURL != "" {
		cfg.URL = stripe.String(apiURL)
	}
	backends := &stripe.Backends{API: stripe.GetBackendWithConfig(stripe.APIBackend, cfg),
		Connect:     stripe.GetBackendWithConfig(stripe.ConnectBackend, cfg),
		Uploads:     stripe.GetBackendWithConfig(stripe.UploadsBackend, cfg),
		MeterEvents: stripe.GetBackendWithConfig(stripe.MeterEventsBackend, cfg)}
	return stripe.NewClient(key, stripe.WithBackends(backends)), nil
}
