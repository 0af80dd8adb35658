package billing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coditect-ai/license-server/shared/database"
)

// Account is a tenant's billing as the service knows it from Stripe's
// events.
type Account struct {
	// CustomerID is the tenant's Stripe customer ("" when the tenant was
	// not sold through Stripe).
	CustomerID    string
	Email         *string
	Subscriptions []Subscription
	// Meters are the licenses' metered prices (usage-based billing).
	Meters []Meter
}

// Meter is a license's metered price: its use (kind usage) or its use
// above the seats (kind overage) reported to a Stripe meter daily.
type Meter struct {
	LicenseID, Kind, PriceID, EventName string
	StartsOn                            time.Time
	EndsOn                              *time.Time
}

// Subscription is one of a tenant's Stripe subscriptions.
type Subscription struct {
	ID                  string
	Status              string
	PeriodEnd           *time.Time
	CancelAtPeriodEnd   bool
	PaymentFailedAt     *time.Time
	GraceEndsAt         *time.Time
	SuspendedForPayment bool
	Items               []Item
}

// Item is a subscription item that is a license.
type Item struct {
	ID, PriceID, LicenseID string
	Ended                  bool
}

// Accounts reads tenants' billing.
type Accounts struct{ db *database.DB }

// NewAccounts returns a reader on db.
func NewAccounts(db *database.DB) (*Accounts, error) {
	if db == nil {
		return nil, errors.New("billing: missing database")
	}
	return &Accounts{db: db}, nil
}

// Get returns a tenant's billing, under the tenant's scope.
func (a *Accounts) Get(ctx context.Context, tenantID string) (Account, error) {
	var out Account
	err := a.db.Tx(ctx, database.Tenant(tenantID), func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT stripe_customer_id, email FROM billing_customers WHERE tenant_id = $1`, tenantID).
			Scan(&out.CustomerID, &out.Email)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the billing of tenant %s: %w", tenantID, err)
		}
		rows, err := tx.Query(ctx, `SELECT subscription_id, status, period_end, cancel_at_period_end, payment_failed_at,
				grace_ends_at, suspended_for_payment
			FROM billing_subscriptions WHERE tenant_id = $1 ORDER BY created_at, subscription_id`, tenantID)
		if err != nil {
			return fmt.Errorf("reading the subscriptions of tenant %s: %w", tenantID, err)
		}
		out.Subscriptions, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) {
			var s Subscription
			err := r.Scan(&s.ID, &s.Status, &s.PeriodEnd, &s.CancelAtPeriodEnd, &s.PaymentFailedAt, &s.GraceEndsAt, &s.SuspendedForPayment)
			return s, err
		})
		if err != nil {
			return fmt.Errorf("reading the subscriptions of tenant %s: %w", tenantID, err)
		}
		rows, err = tx.Query(ctx, `SELECT license_id, kind, price_id, event_name, starts_on, ends_on FROM billing_meters
			WHERE tenant_id = $1 ORDER BY license_id, kind`, tenantID)
		if err != nil {
			return fmt.Errorf("reading the meters of tenant %s: %w", tenantID, err)
		}
		out.Meters, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Meter, error) {
			var m Meter
			err := r.Scan(&m.LicenseID, &m.Kind, &m.PriceID, &m.EventName, &m.StartsOn, &m.EndsOn)
			return m, err
		})
		if err != nil {
			return fmt.Errorf("reading the meters of tenant %s: %w", tenantID, err)
		}
		for i := range out.Subscriptions {
			rows, err := tx.Query(ctx, `SELECT item_id, price_id, license_id, ended FROM billing_items
				WHERE subscription_id = $1 ORDER BY created_at, item_id`, out.Subscriptions[i].ID)
			if err != nil {
				return fmt.Errorf("reading the items of %s: %w", out.Subscriptions[i].ID, err)
			}
			out.Subscriptions[i].Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
				var it Item
				err := r.Scan(&it.ID, &it.PriceID, &it.LicenseID, &it.Ended)
				return it, err
			})
			if err != nil {
				return fmt.Errorf("reading the items of %s: %w", out.Subscriptions[i].ID, err)
			}
		}
		return nil
	})
	return out, err
}

// LicenseRef names a license the scheduled run changed.
type LicenseRef struct{ TenantID, LicenseID string }

// SuspendOverdue suspends the licenses of every subscription whose payment
// failed and whose grace ended by now (schema/019's
// billing_suspend_overdue), as actor billing:grace, and returns them. db is
// the background role's (license_cleanup).
func SuspendOverdue(ctx context.Context, db *database.DB, now time.Time) ([]LicenseRef, error) {
	out, err := scheduled(ctx, db, "billing:grace", `SELECT tenant_id, license_id FROM billing_suspend_overdue($1)`, now)
	if err != nil {
		return nil, fmt.Errorf("suspending overdue licenses: %w", err)
	}
	return out, nil
}

// AutoRenew renews every license with an auto_renew period whose expiry
// falls on now's UTC day or before (schema/021's license_auto_renew), as
// actor auto_renew, and returns them. db is the background role's.
func AutoRenew(ctx context.Context, db *database.DB, now time.Time) ([]LicenseRef, error) {
	out, err := scheduled(ctx, db, "auto_renew", `SELECT tenant_id, license_id FROM license_auto_renew($1)`, now)
	if err != nil {
		return nil, fmt.Errorf("renewing licenses: %w", err)
	}
	return out, nil
}

// scheduled runs one of the scheduled run's functions under the platform
// scope with actor, and reads the licenses it changed.
func scheduled(ctx context.Context, db *database.DB, actor, sql string, now time.Time) ([]LicenseRef, error) {
	var out []LicenseRef
	err := db.Tx(database.WithActor(ctx, actor), database.Platform(), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, now)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (LicenseRef, error) {
			var o LicenseRef
			err := r.Scan(&o.TenantID, &o.LicenseID)
			return o, err
		})
		return err
	})
	return out, err
}
