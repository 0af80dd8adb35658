// Package billing applies what Stripe says about a tenant's subscriptions
// to its licenses: Stripe is the source of commercial truth for what it
// sold. A tenant is a Stripe customer; a subscription item whose price
// names a product (price metadata "product") is a license, its quantity the
// seats; a paid invoice renews the license to the paid period's end plus a
// grace; a failed payment suspends it once the grace has passed, and a
// later payment makes it active again; a deleted subscription ends it at
// the paid period's end.
//
// Stripe retries webhooks and sends them in no particular order. Each
// event is applied once (its id is recorded in the same transaction as its
// effect), and a subscription's state is applied only if its event is at
// least as new as the state already applied: a late, older event changes
// nothing. So the licenses follow the newest state Stripe sent, whatever
// the order of arrival.
package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stripe/stripe-go/v82"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/members"
	"github.com/coditect-ai/license-server/shared/seats"
)

// The event types the applier acts on; every other type is acknowledged
// and recorded as ignored.
const (
	EventCheckoutCompleted     = "checkout.session.completed"
	EventSubscriptionCreated   = "customer.subscription.created"
	EventSubscriptionUpdated   = "customer.subscription.updated"
	EventSubscriptionDeleted   = "customer.subscription.deleted"
	EventInvoicePaid           = "invoice.paid"
	EventInvoicePaymentFailed  = "invoice.payment_failed"
	defaultLeaseTTLSeconds     = 300
	metadataProduct            = "product"
	metadataMeter              = "meter"
	metadataMeterEventName     = "meter_event_name"
	metadataMetersProduct      = "meters_product"
	actorPrefix                = "stripe:"
	placeholderTenantNameStart = "Stripe customer "
)

// Result is what applying one event did.
type Result struct {
	// Duplicate: the event was applied before; nothing was done.
	Duplicate bool
	// Outcome says what was done, in words (recorded with the event).
	Outcome string
	// TenantID is the tenant the event concerned ("" if none).
	TenantID string
	// Licenses are the licenses changed, to write through to Redis.
	Licenses []licenses.License
}

// Applier applies Stripe events to tenants and licenses.
type Applier struct {
	db    *database.DB
	grace time.Duration
}

// NewApplier returns an applier on db (the license_admin role) that keeps
// licenses active for grace past their paid period.
func NewApplier(db *database.DB, grace time.Duration) (*Applier, error) {
	if db == nil || grace < 0 {
		return nil, errors.New("billing: missing dependency")
	}
	return &Applier{db: db, grace: grace}, nil
}

// errRefused is an event whose content cannot be applied (a price without
// a valid product, a policy out of range): recorded and acknowledged, since
// Stripe sending it again would not change it. The next state Stripe sends
// for the subscription is applied as usual.
type errRefused struct{ why string }

func (e errRefused) Error() string { return e.why }

func refused(format string, args ...any) error { return errRefused{why: fmt.Sprintf(format, args...)} }

// Apply applies a verified event once. An error means nothing was applied
// and the event may be delivered again (PostgreSQL failed).
func (a *Applier) Apply(ctx context.Context, ev stripe.Event) (Result, error) {
	if ev.ID == "" || ev.Data == nil {
		return Result{}, errors.New("billing: event without id or data")
	}
	var res Result
	ctx = database.WithActor(ctx, actorPrefix+ev.ID)
	err := a.db.Tx(ctx, database.Platform(), func(tx pgx.Tx) error {
		res = Result{}
		// Claimed first: a concurrent delivery of the same event waits on
		// this row and then finds it taken.
		tag, err := tx.Exec(ctx, `INSERT INTO billing_stripe_events (event_id, type, outcome) VALUES ($1, $2, 'applying')
			ON CONFLICT (event_id) DO NOTHING`, ev.ID, truncate(string(ev.Type), 100))
		if err != nil {
			return fmt.Errorf("recording stripe event %s: %w", ev.ID, err)
		}
		if tag.RowsAffected() == 0 {
			res = Result{Duplicate: true, Outcome: "duplicate: applied before"}
			return nil
		}
		// The event's changes run in a savepoint, so an event refused
		// half-way leaves nothing but its record.
		inner, err := tx.Begin(ctx)
		if err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		created := time.Unix(ev.Created, 0).UTC()
		err = a.apply(ctx, inner, ev, created, &res)
		var r errRefused
		var pgErr *pgconn.PgError
		switch {
		case errors.As(err, &r):
			res = Result{Outcome: "refused: " + r.why, TenantID: res.TenantID}
			err = inner.Rollback(ctx)
		case errors.As(err, &pgErr) && (pgErr.Code == "23514" || pgErr.Code == "23502" || pgErr.Code == "22001"):
			// A CHECK the schema keeps (a seat count, a policy): the
			// event's content, not a fault.
			res = Result{Outcome: "refused: " + pgErr.Message, TenantID: res.TenantID}
			err = inner.Rollback(ctx)
		case err == nil:
			err = inner.Commit(ctx)
		}
		if err != nil {
			return err
		}
		var tenant any
		if res.TenantID != "" {
			tenant = res.TenantID
		}
		if _, err := tx.Exec(ctx, `UPDATE billing_stripe_events SET outcome = $2, tenant_id = $3 WHERE event_id = $1`,
			ev.ID, truncate(res.Outcome, 200), tenantOrNil(ctx, tx, tenant)); err != nil {
			return fmt.Errorf("recording stripe event %s: %w", ev.ID, err)
		}
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	return res, nil
}

// tenantOrNil keeps the event's tenant only if the tenant row exists in
// this transaction (a refused event may name one its rollback undid).
func tenantOrNil(ctx context.Context, tx pgx.Tx, tenant any) any {
	id, ok := tenant.(string)
	if !ok {
		return nil
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, id).Scan(&exists); err != nil || !exists {
		return nil
	}
	return id
}

func (a *Applier) apply(ctx context.Context, tx pgx.Tx, ev stripe.Event, created time.Time, res *Result) error {
	switch string(ev.Type) {
	case EventCheckoutCompleted:
		var s stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
			return refused("checkout session: %v", err)
		}
		return a.checkout(ctx, tx, &s, ev.ID, res)
	case EventSubscriptionCreated, EventSubscriptionUpdated, EventSubscriptionDeleted:
		var s stripe.Subscription
		if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
			return refused("subscription: %v", err)
		}
		return a.subscription(ctx, tx, &s, string(ev.Type) == EventSubscriptionDeleted, created, res)
	case EventInvoicePaid, EventInvoicePaymentFailed:
		var in stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &in); err != nil {
			return refused("invoice: %v", err)
		}
		return a.invoice(ctx, tx, &in, string(ev.Type) == EventInvoicePaid, created, res)
	}
	res.Outcome = "ignored: not an event billing acts on"
	return nil
}

var customerIDRe = regexp.MustCompile(`^cus_[A-Za-z0-9_]{1,250}$`)

func customerID(c *stripe.Customer) (string, error) {
	if c == nil || !customerIDRe.MatchString(c.ID) {
		return "", refused("no valid customer")
	}
	return c.ID, nil
}

// tenantFor returns the tenant of a Stripe customer, creating both the
// tenant and the mapping the first time any event names the customer
// (events arrive in any order, so whichever comes first creates it).
func tenantFor(ctx context.Context, tx pgx.Tx, customer, name string) (string, bool, error) {
	var id string
	err := tx.QueryRow(ctx, `SELECT tenant_id FROM billing_customers WHERE stripe_customer_id = $1`, customer).Scan(&id)
	if err == nil {
		return id, false, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", false, fmt.Errorf("reading stripe customer %s: %w", customer, err)
	}
	if name == "" {
		name = placeholderTenantNameStart + customer
	}
	slug := "stripe-" + strings.ToLower(strings.ReplaceAll(customer, "_", "-"))
	if len(slug) > 63 {
		slug = slug[:63]
	}
	slug = strings.TrimRight(slug, "-")
	if err := tx.QueryRow(ctx, `INSERT INTO tenants (name, slug) VALUES ($1, $2) RETURNING id`,
		truncate(name, 200), slug).Scan(&id); err != nil {
		return "", false, fmt.Errorf("creating the tenant of stripe customer %s: %w", customer, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO billing_customers (tenant_id, stripe_customer_id) VALUES ($1, $2)`, id, customer); err != nil {
		return "", false, fmt.Errorf("mapping stripe customer %s: %w", customer, err)
	}
	return id, true, nil
}

// checkout records the buyer: the customer's tenant (created if no event
// created it yet), its name if it still has the placeholder, and the buyer
// invited as the tenant's admin, which the notifications pipeline mails
// (member.invited). The license itself comes from the subscription's
// events, which carry its items.
func (a *Applier) checkout(ctx context.Context, tx pgx.Tx, s *stripe.CheckoutSession, eventID string, res *Result) error {
	if s.Mode != stripe.CheckoutSessionModeSubscription {
		res.Outcome = "ignored: not a subscription checkout"
		return nil
	}
	customer, err := customerID(s.Customer)
	if err != nil {
		return err
	}
	var email, name string
	if s.CustomerDetails != nil {
		email, name = s.CustomerDetails.Email, s.CustomerDetails.Name
	}
	if name == "" {
		name = email
	}
	tenantID, _, err := tenantFor(ctx, tx, customer, name)
	if err != nil {
		return err
	}
	res.TenantID = tenantID
	if name != "" {
		if _, err := tx.Exec(ctx, `UPDATE tenants SET name = $2, updated_at = now() WHERE id = $1 AND name = $3`,
			tenantID, truncate(name, 200), placeholderTenantNameStart+customer); err != nil {
			return fmt.Errorf("naming tenant %s: %w", tenantID, err)
		}
	}
	res.Outcome = "tenant ready"
	normalized, ok := members.NormalizeEmail(email)
	if !ok {
		return nil
	}
	if _, err := tx.Exec(ctx, `UPDATE billing_customers SET email = $2, updated_at = now() WHERE tenant_id = $1`,
		tenantID, normalized); err != nil {
		return fmt.Errorf("recording the buyer of tenant %s: %w", tenantID, err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO memberships (tenant_id, email, role, kind, created_by)
		SELECT $1, $2, 'admin', 'person', $3
		WHERE NOT EXISTS (SELECT 1 FROM memberships WHERE tenant_id = $1 AND email = $2 AND deleted_at IS NULL)`,
		tenantID, normalized, actorPrefix+eventID)
	if err != nil {
		return fmt.Errorf("inviting the buyer of tenant %s: %w", tenantID, err)
	}
	if tag.RowsAffected() > 0 {
		res.Outcome = "tenant ready; buyer invited as admin"
	}
	return nil
}

// subState is a subscription's row.
type subState struct {
	tenantID            string
	stateAt             time.Time
	periodEnd           *time.Time
	suspendedForPayment bool
	graceEndsAt         *time.Time
	exists              bool
	invoiceAt           *time.Time
	paymentFailedAt     *time.Time
	status              string
	cancelAtPeriodEnd   bool
}

func readSub(ctx context.Context, tx pgx.Tx, id string) (subState, error) {
	var s subState
	err := tx.QueryRow(ctx, `SELECT tenant_id, state_at, period_end, suspended_for_payment, grace_ends_at, invoice_at,
			payment_failed_at, status, cancel_at_period_end
		FROM billing_subscriptions WHERE subscription_id = $1 FOR UPDATE`, id).
		Scan(&s.tenantID, &s.stateAt, &s.periodEnd, &s.suspendedForPayment, &s.graceEndsAt, &s.invoiceAt,
			&s.paymentFailedAt, &s.status, &s.cancelAtPeriodEnd)
	if errors.Is(err, pgx.ErrNoRows) {
		return subState{}, nil
	}
	if err != nil {
		return subState{}, fmt.Errorf("reading subscription %s: %w", id, err)
	}
	s.exists = true
	return s, nil
}

var subscriptionIDRe = regexp.MustCompile(`^sub_[A-Za-z0-9_]{1,250}$`)

// live statuses: the subscription is paid for (or on trial), so its items
// are licenses. An incomplete subscription (its first payment pending) gets
// its licenses when it becomes active.
func liveStatus(s stripe.SubscriptionStatus) bool {
	switch s {
	case stripe.SubscriptionStatusActive, stripe.SubscriptionStatusTrialing, stripe.SubscriptionStatusPastDue:
		return true
	}
	return false
}

func (a *Applier) subscription(ctx context.Context, tx pgx.Tx, s *stripe.Subscription, deleted bool, created time.Time, res *Result) error {
	if !subscriptionIDRe.MatchString(s.ID) {
		return refused("no valid subscription id")
	}
	customer, err := customerID(s.Customer)
	if err != nil {
		return err
	}
	tenantID, _, err := tenantFor(ctx, tx, customer, "")
	if err != nil {
		return err
	}
	res.TenantID = tenantID
	cur, err := readSub(ctx, tx, s.ID)
	if err != nil {
		return err
	}
	if cur.exists && cur.tenantID != tenantID {
		return refused("subscription %s belongs to another customer", s.ID)
	}
	if cur.exists && created.Before(cur.stateAt) {
		res.Outcome = "stale: a newer state of the subscription was applied"
		return nil
	}
	status := string(s.Status)
	if deleted {
		status = string(stripe.SubscriptionStatusCanceled)
	}
	// The paid period: set from the subscription only when none is known
	// yet (its first period, paid when it became active); afterwards only
	// a paid invoice moves it, so a renewal needs a payment.
	periodEnd := cur.periodEnd
	var itemsEnd time.Time
	if s.Items != nil {
		for _, it := range s.Items.Data {
			if it != nil && it.CurrentPeriodEnd > 0 {
				if e := time.Unix(it.CurrentPeriodEnd, 0).UTC(); e.After(itemsEnd) {
					itemsEnd = e
				}
			}
		}
	}
	if periodEnd == nil && !itemsEnd.IsZero() && (liveStatus(s.Status) || deleted) {
		periodEnd = &itemsEnd
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO billing_subscriptions (subscription_id, tenant_id, status, period_end, cancel_at_period_end, state_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (subscription_id) DO UPDATE SET status = excluded.status, period_end = excluded.period_end,
			cancel_at_period_end = excluded.cancel_at_period_end, state_at = excluded.state_at, updated_at = now()`,
		s.ID, tenantID, status, periodEnd, s.CancelAtPeriodEnd, created); err != nil {
		return fmt.Errorf("recording subscription %s: %w", s.ID, err)
	}
	seen := map[string]bool{}
	if !deleted && s.Items != nil {
		for _, it := range s.Items.Data {
			if it == nil || it.Price == nil || it.Price.Metadata[metadataProduct] == "" || it.Price.Metadata[metadataMeter] != "" {
				continue // a price that is not a license (a metered price, a one-off)
			}
			seen[it.ID] = true
			if !liveStatus(s.Status) {
				continue
			}
			l, err := a.item(ctx, tx, s.ID, tenantID, it, expiry(periodEnd, a.grace), cur.suspendedForPayment)
			if err != nil {
				return err
			}
			res.Licenses = append(res.Licenses, l)
		}
	}
	// Items gone from the subscription, or all of them when it is
	// deleted: the license ends at the paid period's end, no grace.
	ended, err := a.endItems(ctx, tx, s.ID, tenantID, seen, periodEnd, created)
	if err != nil {
		return err
	}
	if err := a.meters(ctx, tx, s, tenantID, customer, deleted || !liveStatus(s.Status), periodEnd, created); err != nil {
		return err
	}
	res.Licenses = append(res.Licenses, ended...)
	switch {
	case deleted:
		res.Outcome = fmt.Sprintf("subscription deleted: %d license(s) end at the period's end", len(ended))
	case !liveStatus(s.Status):
		res.Outcome = fmt.Sprintf("subscription %s: no license until it is active", status)
	default:
		res.Outcome = fmt.Sprintf("subscription %s: %d license(s) follow it", status, len(res.Licenses)-len(ended))
	}
	return nil
}

var meterEventNameRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// meters records the subscription's metered prices (metadata "meter":
// usage or overage, "meter_event_name": the Stripe meter's event name,
// "meters_product": the product of the license it meters, needed only when
// the subscription has more than one license) as billing_meters, which
// BillingSchedule reports from; a meter gone from the subscription, or of
// a subscription that ended, stops at the day after the paid period.
func (a *Applier) meters(ctx context.Context, tx pgx.Tx, s *stripe.Subscription, tenantID, customer string, ending bool,
	periodEnd *time.Time, now time.Time) error {
	type lic struct{ id, product string }
	rows, err := tx.Query(ctx, `SELECT i.license_id, l.product FROM billing_items i JOIN licenses l ON l.id = i.license_id
		WHERE i.subscription_id = $1 AND NOT i.ended ORDER BY i.created_at`, s.ID)
	if err != nil {
		return fmt.Errorf("reading the licenses of %s: %w", s.ID, err)
	}
	lics, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lic, error) {
		var l lic
		err := r.Scan(&l.id, &l.product)
		return l, err
	})
	if err != nil {
		return fmt.Errorf("reading the licenses of %s: %w", s.ID, err)
	}
	kept := []string{}
	if !ending && s.Items != nil {
		for _, it := range s.Items.Data {
			if it == nil || it.Price == nil || it.Price.Metadata[metadataMeter] == "" {
				continue
			}
			md := it.Price.Metadata
			kind := md[metadataMeter]
			if kind != "usage" && kind != "overage" {
				return refused("price %s: metadata meter must be usage or overage", it.Price.ID)
			}
			if !meterEventNameRe.MatchString(md[metadataMeterEventName]) {
				return refused("price %s: metadata meter_event_name must name the Stripe meter's event", it.Price.ID)
			}
			var licenseID string
			for _, l := range lics {
				if md[metadataMetersProduct] == "" && len(lics) == 1 || md[metadataMetersProduct] == l.product {
					licenseID = l.id
				}
			}
			if licenseID == "" {
				return refused("price %s: metadata meters_product names none of the subscription's licenses", it.Price.ID)
			}
			startsOn := now
			if it.CurrentPeriodStart > 0 {
				startsOn = time.Unix(it.CurrentPeriodStart, 0)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO billing_meters (license_id, tenant_id, kind, item_id, price_id, event_name,
					stripe_customer_id, starts_on)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8::timestamptz::date)
				ON CONFLICT (license_id, kind) DO UPDATE SET item_id = excluded.item_id, price_id = excluded.price_id,
					event_name = excluded.event_name, ends_on = NULL, updated_at = now()`,
				licenseID, tenantID, kind, it.ID, it.Price.ID, md[metadataMeterEventName], customer, startsOn.UTC()); err != nil {
				return fmt.Errorf("recording the %s meter of %s: %w", kind, licenseID, err)
			}
			kept = append(kept, it.ID)
		}
	}
	end := now
	if periodEnd != nil {
		end = *periodEnd
	}
	if _, err := tx.Exec(ctx, `UPDATE billing_meters m SET ends_on = ($3::timestamptz)::date + 1, updated_at = now()
		FROM billing_items i
		WHERE i.subscription_id = $1 AND m.license_id = i.license_id AND m.ends_on IS NULL AND NOT (m.item_id = ANY($2))`,
		s.ID, kept, end.UTC()); err != nil {
		return fmt.Errorf("ending the meters of %s: %w", s.ID, err)
	}
	return nil
}

func expiry(periodEnd *time.Time, grace time.Duration) *time.Time {
	if periodEnd == nil {
		return nil
	}
	e := periodEnd.Add(grace)
	return &e
}

// policy reads the lease policy a price's metadata names; a value out of
// range is refused here or by the schema's checks.
func policy(md map[string]string) (licenses.New, error) {
	n := licenses.New{Product: md[metadataProduct], LeaseTTLSeconds: defaultLeaseTTLSeconds, Leasing: "per_fingerprint"}
	if len(n.Product) > 100 {
		return n, refused("price metadata product is longer than 100 characters")
	}
	num := func(key string, lo, hi int) (*int, error) {
		v, ok := md[key]
		if !ok || v == "" {
			return nil, nil
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < lo || i > hi {
			return nil, refused("price metadata %s must be a whole number from %d to %d", key, lo, hi)
		}
		return &i, nil
	}
	if v, err := num("lease_ttl_seconds", 30, 86400); err != nil {
		return n, err
	} else if v != nil {
		n.LeaseTTLSeconds = *v
	}
	var err error
	if n.MaxSeatsPerUser, err = num("max_seats_per_user", 1, 1_000_000); err != nil {
		return n, err
	}
	if v := md["leasing"]; v != "" {
		if v != "per_fingerprint" && v != "per_user" {
			return n, refused("price metadata leasing must be per_fingerprint or per_user")
		}
		n.Leasing = v
	}
	if v := md["require_user"]; v != "" {
		if v != "true" && v != "false" {
			return n, refused("price metadata require_user must be true or false")
		}
		n.RequireUser = v == "true"
	}
	if v := md["overage_mode"]; v != "" {
		switch v {
		case seats.OverageNone, seats.OveragePercent, seats.OverageAbsolute, seats.OverageUnlimited:
		default:
			return n, refused("price metadata overage_mode must be none, percent, absolute or unlimited")
		}
		n.OverageMode = v
		ov, err := num("overage_value", 0, 1_000_000)
		if err != nil {
			return n, err
		}
		if ov != nil {
			n.OverageValue = *ov
		}
	}
	return n, nil
}

// item creates the license of a subscription item, or makes an existing
// one follow it: seats = quantity, the price's policy, the paid expiry.
// Lowering seats ends no live session: acquires are refused until use
// falls below, as for any seat change.
func (a *Applier) item(ctx context.Context, tx pgx.Tx, subID, tenantID string, it *stripe.SubscriptionItem,
	expiresAt *time.Time, suspended bool) (licenses.License, error) {
	n, err := policy(it.Price.Metadata)
	if err != nil {
		return licenses.License{}, err
	}
	if it.Quantity < 1 || it.Quantity > 1_000_000 {
		return licenses.License{}, refused("item %s: quantity %d is not a seat count", it.ID, it.Quantity)
	}
	if !strings.HasPrefix(it.ID, "si_") {
		return licenses.License{}, refused("no valid subscription item id")
	}
	n.Seats = int(it.Quantity)
	n.ExpiresAt = expiresAt
	var licenseID, itemSub string
	err = tx.QueryRow(ctx, `SELECT license_id, subscription_id FROM billing_items WHERE item_id = $1 FOR UPDATE`, it.ID).Scan(&licenseID, &itemSub)
	if err == nil && itemSub != subID {
		return licenses.License{}, refused("item %s belongs to another subscription", it.ID)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		l, _, err := licenses.CreateIn(ctx, tx, tenantID, n)
		if err != nil {
			return licenses.License{}, err
		}
		if suspended {
			status := "suspended"
			if l, err = licenses.UpdateIn(ctx, tx, tenantID, l.ID, licenses.Patch{Status: &status}); err != nil {
				return licenses.License{}, err
			}
		}
		// The key made with it is not kept anywhere: the tenant's admin
		// (the buyer, invited at checkout) takes a key once with
		// rotate-key, which the console offers for a license with none
		// shown yet.
		if _, err := tx.Exec(ctx, `INSERT INTO billing_items (item_id, subscription_id, tenant_id, license_id, price_id)
			VALUES ($1, $2, $3, $4, $5)`, it.ID, subID, tenantID, l.ID, it.Price.ID); err != nil {
			return licenses.License{}, fmt.Errorf("recording item %s: %w", it.ID, err)
		}
		return l, nil
	case err != nil:
		return licenses.License{}, fmt.Errorf("reading item %s: %w", it.ID, err)
	}
	p := licenses.Patch{Seats: &n.Seats, LeaseTTLSeconds: &n.LeaseTTLSeconds, Leasing: &n.Leasing, RequireUser: &n.RequireUser,
		ExpiresAt: expiresAt}
	if n.MaxSeatsPerUser != nil {
		p.MaxSeatsPerUser = n.MaxSeatsPerUser
	} else {
		p.ClearMaxSeatsPerUser = true
	}
	if n.OverageMode != "" {
		p.OverageMode, p.OverageValue = &n.OverageMode, &n.OverageValue
	}
	l, err := licenses.UpdateIn(ctx, tx, tenantID, licenseID, p)
	if errors.Is(err, database.ErrNotFound) {
		return licenses.License{}, refused("the license of item %s was deleted", it.ID)
	}
	if err != nil {
		return licenses.License{}, err
	}
	if _, err := tx.Exec(ctx, `UPDATE billing_items SET price_id = $2, ended = false, updated_at = now() WHERE item_id = $1`,
		it.ID, it.Price.ID); err != nil {
		return licenses.License{}, fmt.Errorf("recording item %s: %w", it.ID, err)
	}
	return l, nil
}

// endItems ends the subscription's items not in keep: each license
// expires at the paid period's end (or now, if no period was paid) unless
// it expires sooner already.
func (a *Applier) endItems(ctx context.Context, tx pgx.Tx, subID, tenantID string, keep map[string]bool,
	periodEnd *time.Time, now time.Time) ([]licenses.License, error) {
	rows, err := tx.Query(ctx, `SELECT item_id, license_id FROM billing_items WHERE subscription_id = $1 AND NOT ended`, subID)
	if err != nil {
		return nil, fmt.Errorf("reading the items of %s: %w", subID, err)
	}
	type item struct{ id, license string }
	var gone []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.license); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reading the items of %s: %w", subID, err)
		}
		if !keep[it.id] {
			gone = append(gone, it)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the items of %s: %w", subID, err)
	}
	end := now
	if periodEnd != nil {
		end = *periodEnd
	}
	var out []licenses.License
	for _, it := range gone {
		l, err := licenses.UpdateIn(ctx, tx, tenantID, it.license, licenses.Patch{})
		if errors.Is(err, database.ErrNotFound) {
			continue // deleted by an admin: nothing to end
		}
		if err != nil {
			return nil, err
		}
		if l.ExpiresAt == nil || l.ExpiresAt.After(end) {
			e := end
			if l, err = licenses.UpdateIn(ctx, tx, tenantID, it.license, licenses.Patch{ExpiresAt: &e}); err != nil {
				return nil, err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE billing_items SET ended = true, updated_at = now() WHERE item_id = $1`, it.id); err != nil {
			return nil, fmt.Errorf("ending item %s: %w", it.id, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// invoice applies a paid or failed invoice of a subscription: paid renews
// its licenses to the paid period's end plus the grace and ends any
// suspension for non-payment; failed starts the grace, after which the
// scheduled run suspends them. An invoice older than the newest applied
// one changes nothing, but a paid period is never shortened either way.
func (a *Applier) invoice(ctx context.Context, tx pgx.Tx, in *stripe.Invoice, paid bool, created time.Time, res *Result) error {
	if in.Parent == nil || in.Parent.SubscriptionDetails == nil || in.Parent.SubscriptionDetails.Subscription == nil {
		res.Outcome = "ignored: not a subscription's invoice"
		return nil
	}
	subID := in.Parent.SubscriptionDetails.Subscription.ID
	if !subscriptionIDRe.MatchString(subID) {
		return refused("no valid subscription id")
	}
	customer, err := customerID(in.Customer)
	if err != nil {
		return err
	}
	tenantID, _, err := tenantFor(ctx, tx, customer, "")
	if err != nil {
		return err
	}
	res.TenantID = tenantID
	cur, err := readSub(ctx, tx, subID)
	if err != nil {
		return err
	}
	if cur.exists && cur.tenantID != tenantID {
		return refused("subscription %s belongs to another customer", subID)
	}
	if !cur.exists {
		// The invoice came before the subscription's own events: record
		// what it says; the subscription's state (any newer time) fills
		// the rest.
		if _, err := tx.Exec(ctx, `INSERT INTO billing_subscriptions (subscription_id, tenant_id, status, state_at)
			VALUES ($1, $2, 'incomplete', 'epoch')`, subID, tenantID); err != nil {
			return fmt.Errorf("recording subscription %s: %w", subID, err)
		}
	}
	if cur.invoiceAt != nil && created.Before(*cur.invoiceAt) && !paid {
		res.Outcome = "stale: a newer invoice of the subscription was applied"
		return nil
	}
	var paidEnd time.Time
	if in.Lines != nil {
		for _, line := range in.Lines.Data {
			if line != nil && line.Period != nil && line.Period.End > 0 {
				if e := time.Unix(line.Period.End, 0).UTC(); e.After(paidEnd) {
					paidEnd = e
				}
			}
		}
	}
	newer := cur.invoiceAt == nil || !created.Before(*cur.invoiceAt)
	if paid {
		periodEnd := cur.periodEnd
		if !paidEnd.IsZero() && (periodEnd == nil || paidEnd.After(*periodEnd)) {
			periodEnd = &paidEnd
		}
		if _, err := tx.Exec(ctx, `UPDATE billing_subscriptions SET period_end = $2,
				payment_failed_at = CASE WHEN $3 THEN NULL ELSE payment_failed_at END,
				grace_ends_at = CASE WHEN $3 THEN NULL ELSE grace_ends_at END,
				suspended_for_payment = CASE WHEN $3 THEN false ELSE suspended_for_payment END,
				invoice_at = GREATEST(invoice_at, $4), updated_at = now()
			WHERE subscription_id = $1`, subID, periodEnd, newer, created); err != nil {
			return fmt.Errorf("recording the payment of %s: %w", subID, err)
		}
		exp := expiry(periodEnd, a.grace)
		ls, err := a.followPayment(ctx, tx, subID, tenantID, exp, newer && cur.suspendedForPayment)
		if err != nil {
			return err
		}
		res.Licenses = ls
		res.Outcome = fmt.Sprintf("paid: %d license(s) renewed", len(ls))
		return nil
	}
	grace := created.Add(a.grace)
	if cur.graceEndsAt != nil && cur.paymentFailedAt != nil {
		grace = *cur.graceEndsAt // a retry failing again does not extend the grace
	}
	if _, err := tx.Exec(ctx, `UPDATE billing_subscriptions SET payment_failed_at = COALESCE(payment_failed_at, $2),
			grace_ends_at = $3, invoice_at = $2, updated_at = now()
		WHERE subscription_id = $1`, subID, created, grace); err != nil {
		return fmt.Errorf("recording the failed payment of %s: %w", subID, err)
	}
	res.Outcome = "payment failed: licenses stay active until " + grace.Format(time.RFC3339)
	return nil
}

// followPayment renews the subscription's live items' licenses to exp and,
// if reactivate, makes the ones it suspended for non-payment active again.
func (a *Applier) followPayment(ctx context.Context, tx pgx.Tx, subID, tenantID string, exp *time.Time, reactivate bool) ([]licenses.License, error) {
	rows, err := tx.Query(ctx, `SELECT license_id FROM billing_items WHERE subscription_id = $1 AND NOT ended`, subID)
	if err != nil {
		return nil, fmt.Errorf("reading the items of %s: %w", subID, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the items of %s: %w", subID, err)
	}
	var out []licenses.License
	for _, id := range ids {
		p := licenses.Patch{ExpiresAt: exp}
		if reactivate {
			active := "active"
			p.Status = &active
		}
		l, err := licenses.UpdateIn(ctx, tx, tenantID, id, p)
		if errors.Is(err, database.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
