// Package billingtest builds Stripe events shaped like the ones Stripe
// sends (the fields billing reads, at the API version stripe-go speaks),
// and signs them with stripe-go's own test helper, for the billing tests.
package billingtest

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

// Item is a subscription item: a price (with its metadata) and a quantity.
type Item struct {
	ID, PriceID string
	Metadata    map[string]string
	Quantity    int64
	PeriodStart time.Time
	PeriodEnd   time.Time
}

// Subscription is a subscription object.
func Subscription(id, customer, status string, cancelAtPeriodEnd bool, items ...Item) map[string]any {
	data := []any{}
	for _, it := range items {
		md := map[string]any{}
		for k, v := range it.Metadata {
			md[k] = v
		}
		data = append(data, map[string]any{"object": "subscription_item", "id": it.ID, "quantity": it.Quantity,
			"subscription": id, "current_period_start": it.PeriodStart.Unix(), "current_period_end": it.PeriodEnd.Unix(),
			"price": map[string]any{"object": "price", "id": it.PriceID, "metadata": md, "type": "recurring",
				"recurring": map[string]any{"interval": "month", "interval_count": 1, "usage_type": "licensed"}}})
	}
	return map[string]any{"object": "subscription", "id": id, "customer": customer, "status": status,
		"cancel_at_period_end": cancelAtPeriodEnd, "metadata": map[string]any{},
		"items": map[string]any{"object": "list", "data": data, "has_more": false, "url": "/v1/subscription_items?subscription=" + id}}
}

// Invoice is a subscription's invoice for the period [start, end).
func Invoice(id, customer, subscription, status string, start, end time.Time) map[string]any {
	return map[string]any{"object": "invoice", "id": id, "customer": customer, "status": status,
		"parent": map[string]any{"type": "subscription_details",
			"subscription_details": map[string]any{"subscription": subscription, "metadata": map[string]any{}}},
		"lines": map[string]any{"object": "list", "has_more": false, "url": "/v1/invoices/" + id + "/lines",
			"data": []any{map[string]any{"object": "line_item", "id": "il_" + id[3:],
				"period": map[string]any{"start": start.Unix(), "end": end.Unix()}}}}}
}

// Checkout is a completed subscription checkout session.
func Checkout(id, customer, subscription, email, name string) map[string]any {
	return map[string]any{"object": "checkout.session", "id": id, "mode": "subscription", "status": "complete",
		"customer": customer, "subscription": subscription,
		"customer_details": map[string]any{"email": email, "name": name}}
}

// Event is an event of type typ about object, created at created, as
// Stripe sends it (JSON).
func Event(id, typ string, created time.Time, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"object": "event", "id": id, "type": typ, "created": created.Unix(),
		"api_version": stripe.APIVersion, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    map[string]any{"object": object}})
	if err != nil {
		panic(fmt.Sprintf("billingtest: %v", err))
	}
	return b
}

// Parsed is Event as stripe-go parses it.
func Parsed(id, typ string, created time.Time, object map[string]any) stripe.Event {
	var e stripe.Event
	if err := json.Unmarshal(Event(id, typ, created, object), &e); err != nil {
		panic(fmt.Sprintf("billingtest: %v", err))
	}
	return e
}

// Sign returns the Stripe-Signature header for payload, signed with
// secret at t, by stripe-go's test helper.
func Sign(payload []byte, secret string, t time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: t}).Header
}
