package stripeclient_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stripe/stripe-go/v82"

	"github.com/coditect-ai/license-server/shared/stripeclient"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// The client reaches the configured API (stripe-mock), meter events
// included, which stripe-go otherwise sends to their own host.
func TestClientCallsTheConfiguredAPI(t *testing.T) {
	t.Parallel()
	mock := testenv.NewStripeMock(t)
	c, err := stripeclient.New("sk_test_123", mock.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.V1BillingMeterEvents.Create(ctx, &stripe.BillingMeterEventCreateParams{EventName: stripe.String("seat_hours"),
		Identifier: stripe.String("lic-day"), Payload: map[string]string{"stripe_customer_id": "cus_1", "value": "3"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{Customer: stripe.String("cus_1")}); err != nil {
		t.Fatal(err)
	}
	ev := mock.Calls(http.MethodPost, "/v1/billing/meter_events")
	if len(ev) != 1 || ev[0].Form.Get("identifier") != "lic-day" || ev[0].Form.Get("payload[value]") != "3" {
		t.Fatalf("meter event calls = %+v", ev)
	}
	if p := mock.Calls(http.MethodPost, "/v1/billing_portal/sessions"); len(p) != 1 || p[0].Form.Get("customer") != "cus_1" {
		t.Fatalf("portal calls = %+v", p)
	}
}

func TestNoKeyIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := stripeclient.New("", ""); err == nil {
		t.Fatal("a client without a key was made")
	}
}
