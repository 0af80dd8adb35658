// Package billing is the Billing function: Stripe's webhooks, which make
// and renew the licenses Stripe sold (shared/billing applies them), and a
// tenant's billing for its admins (the subscriptions, the next invoice,
// and a link to Stripe's customer portal).
//
// The webhook is the one call of the API without a credential: Stripe
// signs each delivery (Stripe-Signature, HMAC-SHA256 under the endpoint's
// signing secret), and stripe-go's webhook package checks it, with a
// tolerance of 5 minutes on its timestamp so a captured delivery cannot be
// replayed later. A delivery that fails the check is 400 and changes
// nothing.
package billing

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/coditect-ai/license-server/shared/auth"
	"github.com/coditect-ai/license-server/shared/billing"
	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licensing"
	"github.com/coditect-ai/license-server/shared/logging"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/timestamp"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Billing"

// PortalPattern is the customer-portal route's pattern.
const PortalPattern = "/v1/tenants/{tenant_id}/billing/portal"

// Tolerance is how old a webhook's signed timestamp may be.
const Tolerance = 5 * time.Minute

// maxWebhookBytes bounds a delivery's body: Stripe's events are a few
// kilobytes; a subscription with many items stays far below this.
const maxWebhookBytes = 1 << 20

// Config are the function's dependencies.
type Config struct {
	Authn    *auth.Authenticator
	Applier  *billing.Applier
	Accounts *billing.Accounts
	// Stripe calls Stripe's API (the next invoice, the portal).
	Stripe *stripe.Client
	// WebhookSecret is the endpoint's signing secret (whsec_…).
	WebhookSecret string
	Licensing     *licensing.Service
	// PortalReturnURL is where the customer portal sends the admin back.
	PortalReturnURL string
	Logger          *slog.Logger
}

// New returns the function.
func New(c Config) (route.Function, error) {
	if c.Authn == nil || c.Applier == nil || c.Accounts == nil || c.Stripe == nil || c.WebhookSecret == "" ||
		c.Licensing == nil || c.Logger == nil || c.PortalReturnURL == "" {
		return route.Function{}, errors.New("billing: missing dependency")
	}
	h := &handler{c: c}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/billing/stripe/webhook", Methods: route.Methods{http.MethodPost: h.webhook}},
		{Pattern: "/v1/tenants/{tenant_id}/billing", Methods: c.Authn.RequireAll(route.Methods{http.MethodGet: h.get})},
		{Pattern: PortalPattern, Methods: c.Authn.RequireAll(route.Methods{http.MethodPost: h.portal})},
	}}, nil
}

type handler struct{ c Config }

type received struct {
	Received  bool   `json:"received"`
	Duplicate bool   `json:"duplicate"`
	Outcome   string `json:"outcome"`
}

func (h *handler) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			httpjson.WriteError(w, r, httpjson.Errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
				"a webhook delivery is at most %d bytes", maxWebhookBytes))
			return
		}
		httpjson.WriteError(w, r, httpjson.Invalid("the body could not be read"))
		return
	}
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), h.c.WebhookSecret,
		webhook.ConstructEventOptions{Tolerance: Tolerance})
	if err != nil {
		// Which check failed is for our log, not for the caller.
		h.c.Logger.WarnContext(r.Context(), "billing: refused a webhook delivery", "reason", err.Error())
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusBadRequest, "invalid_signature",
			"the Stripe-Signature does not verify (wrong secret, altered body, a timestamp older than %s, or an API version other than %s)",
			Tolerance, stripe.APIVersion))
		return
	}
	res, err := h.c.Applier.Apply(r.Context(), ev)
	if err != nil {
		// Nothing was applied: a 5xx makes Stripe deliver it again.
		httpjson.WriteError(w, r, err)
		return
	}
	h.c.Logger.InfoContext(r.Context(), "billing: stripe event", "event_id", ev.ID, "type", string(ev.Type),
		"duplicate", res.Duplicate, "outcome", res.Outcome, "tenant_id", res.TenantID)
	for _, l := range res.Licenses {
		// Committed already: a Redis that cannot take the change now is
		// brought up to date by the reconciliation of changed licenses.
		if err := h.c.Licensing.SyncLicense(context.WithoutCancel(r.Context()), l); err != nil {
			logging.RecordError(r.Context(), err)
		}
	}
	httpjson.Write(w, http.StatusOK, received{Received: true, Duplicate: res.Duplicate, Outcome: res.Outcome})
}

type itemView struct {
	ID        string `json:"id"`
	PriceID   string `json:"price_id"`
	LicenseID string `json:"license_id"`
	Ended     bool   `json:"ended"`
}

type subscriptionView struct {
	ID                  string          `json:"id"`
	Status              string          `json:"status"`
	PaidThrough         *timestamp.Time `json:"paid_through"`
	CancelAtPeriodEnd   bool            `json:"cancel_at_period_end"`
	PaymentFailedAt     *timestamp.Time `json:"payment_failed_at"`
	GraceEndsAt         *timestamp.Time `json:"grace_ends_at"`
	SuspendedForPayment bool            `json:"suspended_for_payment"`
	Items               []itemView      `json:"items"`
}

type invoiceView struct {
	SubscriptionID string         `json:"subscription_id"`
	AmountDue      int64          `json:"amount_due"`
	Currency       string         `json:"currency"`
	PeriodEnd      timestamp.Time `json:"period_end"`
}

type meterView struct {
	LicenseID string  `json:"license_id"`
	Kind      string  `json:"kind"`
	PriceID   string  `json:"price_id"`
	EventName string  `json:"event_name"`
	StartsOn  string  `json:"starts_on"`
	EndsOn    *string `json:"ends_on"`
}

type accountView struct {
	TenantID      string             `json:"tenant_id"`
	CustomerID    *string            `json:"stripe_customer_id"`
	Email         *string            `json:"email"`
	Subscriptions []subscriptionView `json:"subscriptions"`
	Meters        []meterView        `json:"meters"`
	// NextInvoices are Stripe's previews of each live subscription's next
	// invoice; a preview Stripe could not give is left out and said in
	// next_invoice_error.
	NextInvoices     []invoiceView `json:"next_invoices"`
	NextInvoiceError *string       `json:"next_invoice_error"`
}

func ts(t *time.Time) *timestamp.Time {
	if t == nil {
		return nil
	}
	v := timestamp.Of(*t)
	return &v
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err == nil {
		err = h.c.Licensing.LiveTenant(r.Context(), tenantID)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	acc, err := h.c.Accounts.Get(r.Context(), tenantID)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	out := accountView{TenantID: tenantID, Email: acc.Email, Subscriptions: []subscriptionView{}, Meters: []meterView{},
		NextInvoices: []invoiceView{}}
	for _, m := range acc.Meters {
		v := meterView{LicenseID: m.LicenseID, Kind: m.Kind, PriceID: m.PriceID, EventName: m.EventName,
			StartsOn: m.StartsOn.Format(time.DateOnly)}
		if m.EndsOn != nil {
			e := m.EndsOn.Format(time.DateOnly)
			v.EndsOn = &e
		}
		out.Meters = append(out.Meters, v)
	}
	if acc.CustomerID == "" {
		httpjson.Write(w, http.StatusOK, out)
		return
	}
	out.CustomerID = &acc.CustomerID
	for _, s := range acc.Subscriptions {
		v := subscriptionView{ID: s.ID, Status: s.Status, PaidThrough: ts(s.PeriodEnd), CancelAtPeriodEnd: s.CancelAtPeriodEnd,
			PaymentFailedAt: ts(s.PaymentFailedAt), GraceEndsAt: ts(s.GraceEndsAt), SuspendedForPayment: s.SuspendedForPayment,
			Items: []itemView{}}
		for _, it := range s.Items {
			v.Items = append(v.Items, itemView{ID: it.ID, PriceID: it.PriceID, LicenseID: it.LicenseID, Ended: it.Ended})
		}
		out.Subscriptions = append(out.Subscriptions, v)
		if s.Status == "canceled" || s.Status == "incomplete_expired" {
			continue
		}
		in, err := h.c.Stripe.V1Invoices.CreatePreview(r.Context(), &stripe.InvoiceCreatePreviewParams{
			Customer: stripe.String(acc.CustomerID), Subscription: stripe.String(s.ID)})
		if err != nil {
			logging.RecordError(r.Context(), err)
			msg := "Stripe could not preview the next invoice; try again later"
			out.NextInvoiceError = &msg
			continue
		}
		out.NextInvoices = append(out.NextInvoices, invoiceView{SubscriptionID: s.ID, AmountDue: in.AmountDue,
			Currency: string(in.Currency), PeriodEnd: timestamp.Of(time.Unix(in.PeriodEnd, 0))})
	}
	httpjson.Write(w, http.StatusOK, out)
}

type portalView struct {
	URL string `json:"url"`
}

// portal opens a Stripe customer-portal session for the tenant's customer,
// where its admin changes the plan, the seats or the card; what they
// change comes back as webhooks.
func (h *handler) portal(w http.ResponseWriter, r *http.Request) {
	tenantID, _, err := auth.Tenant(r, auth.Admin)
	if err == nil {
		err = h.c.Licensing.LiveTenant(r.Context(), tenantID)
	}
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	acc, err := h.c.Accounts.Get(r.Context(), tenantID)
	if err != nil {
		httpjson.WriteError(w, r, err)
		return
	}
	if acc.CustomerID == "" {
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusConflict, "billing_not_set_up",
			"this tenant was not sold through Stripe: it has no billing account"))
		return
	}
	s, err := h.c.Stripe.V1BillingPortalSessions.Create(r.Context(), &stripe.BillingPortalSessionCreateParams{
		Customer: stripe.String(acc.CustomerID), ReturnURL: stripe.String(h.c.PortalReturnURL)})
	if err != nil {
		logging.RecordError(r.Context(), err)
		httpjson.WriteError(w, r, httpjson.Errorf(http.StatusBadGateway, "billing_unavailable",
			"Stripe did not open a portal session; try again later"))
		return
	}
	httpjson.Write(w, http.StatusCreated, portalView{URL: s.URL})
}
