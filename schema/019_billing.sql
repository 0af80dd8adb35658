-- Billing (issue 21): Stripe subscriptions drive licenses.
--
-- Stripe is the source of commercial truth for what it sold: a tenant is a
-- Stripe customer (billing_customers), a subscription's item that prices a
-- product is a license (billing_items), and the subscription's state (its
-- status, the paid period, a failed payment) decides the license's seats,
-- expiry and status. The Billing function applies each webhook's object to
-- these tables and the license in one transaction, as license_admin under
-- the platform scope, with the Stripe event's id as the audit actor.
--
-- Stripe retries webhooks and sends them in no particular order, so:
-- every event id is processed once (billing_stripe_events), and an object's
-- state is applied only if it is at least as new as the state already
-- applied (state_at: the event's created time), so a late, older event
-- changes nothing.

CREATE TABLE billing_customers (
    tenant_id          uuid PRIMARY KEY REFERENCES tenants (id),
    stripe_customer_id text NOT NULL UNIQUE CHECK (stripe_customer_id ~ '^cus_[A-Za-z0-9_]{1,250}$'),
    -- The buyer's address as the checkout gave it (NULL until one did).
    email              text CHECK (length(email) <= 320),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_subscriptions (
    subscription_id   text PRIMARY KEY CHECK (subscription_id ~ '^sub_[A-Za-z0-9_]{1,250}$'),
    tenant_id         uuid NOT NULL REFERENCES tenants (id),
    -- Stripe's status: incomplete, incomplete_expired, trialing, active,
    -- past_due, canceled, unpaid, paused.
    status            text NOT NULL CHECK (length(status) BETWEEN 1 AND 40),
    -- The paid period (the latest invoice.paid's, else the subscription's
    -- own): licenses expire at period_end + the grace.
    period_start      timestamptz,
    period_end        timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    -- Set when a payment failed and no payment has succeeded since; the
    -- licenses are suspended once grace_ends_at passes (the scheduled run),
    -- and active again when an invoice is paid.
    payment_failed_at timestamptz,
    grace_ends_at     timestamptz,
    -- The licenses this subscription suspended for non-payment (so a
    -- payment reactivates those and never one an admin suspended).
    suspended_for_payment boolean NOT NULL DEFAULT false,
    -- Stripe's created time of the newest event whose subscription state
    -- was applied, and of the newest invoice event applied.
    state_at          timestamptz NOT NULL,
    invoice_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_subscriptions_tenant ON billing_subscriptions (tenant_id);
CREATE INDEX billing_subscriptions_grace ON billing_subscriptions (grace_ends_at)
    WHERE grace_ends_at IS NOT NULL AND NOT suspended_for_payment;

CREATE TABLE billing_items (
    item_id         text PRIMARY KEY CHECK (item_id ~ '^si_[A-Za-z0-9_]{1,250}$'),
    subscription_id text NOT NULL REFERENCES billing_subscriptions (subscription_id),
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    license_id      uuid NOT NULL UNIQUE REFERENCES licenses (id),
    price_id        text NOT NULL CHECK (length(price_id) BETWEEN 1 AND 255),
    -- Gone from the subscription (removed, or the subscription deleted):
    -- the license expired at the period's end and the item changes it no
    -- more.
    ended           boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX billing_items_subscription ON billing_items (subscription_id);

-- Every Stripe event processed, by id: a redelivery is acknowledged and
-- does nothing. Kept 90 days (Stripe retries for 3 days).
CREATE TABLE billing_stripe_events (
    event_id     text PRIMARY KEY CHECK (event_id ~ '^evt_[A-Za-z0-9_]{1,250}$'),
    type         text NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
    -- The tenant it changed, when it changed one (NULL: ignored, or
    -- before a tenant existed).
    tenant_id    uuid REFERENCES tenants (id),
    outcome      text NOT NULL CHECK (length(outcome) BETWEEN 1 AND 200),
    processed_at timestamptz NOT NULL DEFAULT now()
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['billing_customers', 'billing_subscriptions', 'billing_items'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
            WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))', t);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
    END LOOP;
END $$;
-- The event log belongs to no tenant until an event changed one: only the
-- platform scope sees it.
ALTER TABLE billing_stripe_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE billing_stripe_events FORCE ROW LEVEL SECURITY;
CREATE POLICY platform_only ON billing_stripe_events
    USING ((SELECT app_scope_platform())) WITH CHECK ((SELECT app_scope_platform()));
REVOKE ALL ON billing_stripe_events FROM PUBLIC;

-- Billing (license_admin) applies webhooks and reads a tenant's billing;
-- the scheduled run (license_cleanup) suspends licenses whose grace ended.
GRANT SELECT, INSERT, UPDATE ON billing_customers, billing_subscriptions, billing_items, billing_stripe_events
    TO license_admin;
GRANT SELECT ON billing_customers, billing_subscriptions, billing_items TO license_cleanup;
GRANT UPDATE (suspended_for_payment, updated_at) ON billing_subscriptions TO license_cleanup;

-- The scheduled run (BillingSchedule, license_cleanup, under the platform
-- scope with its actor) suspends the licenses of each subscription whose
-- payment failed and whose grace has ended, and returns them so it can
-- write them through to Redis. It runs as the owner because
-- license_cleanup may not change licenses otherwise; it changes only
-- status, of exactly these licenses. The audit trigger and the outbox's
-- license.updated record the change like any other.
CREATE FUNCTION billing_suspend_overdue(p_now timestamptz) RETURNS TABLE (tenant_id uuid, license_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN QUERY
    WITH due AS (
        UPDATE billing_subscriptions s SET suspended_for_payment = true, updated_at = now()
        WHERE s.grace_ends_at <= p_now AND s.payment_failed_at IS NOT NULL AND NOT s.suspended_for_payment
        RETURNING s.subscription_id
    ), suspended AS (
        UPDATE licenses l SET status = 'suspended', revision = l.revision + 1, updated_at = now()
        FROM billing_items i JOIN due ON due.subscription_id = i.subscription_id
        WHERE l.id = i.license_id AND NOT i.ended AND l.status = 'active'
        RETURNING l.tenant_id, l.id
    )
    SELECT suspended.tenant_id, suspended.id FROM suspended;
END $$;
REVOKE ALL ON FUNCTION billing_suspend_overdue(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing_suspend_overdue(timestamptz) TO license_cleanup;

-- billing.payment_failed: the tenant's admins are told, through the
-- notifications pipeline (a mail by default, and webhooks that ask for
-- it), when a payment of a subscription fails and none failed before it
-- since the last payment: once per run of failures, with when the grace
-- ends.
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_type_check;
ALTER TABLE outbox_events ADD CONSTRAINT outbox_events_type_check CHECK (type IN (
    'license.created', 'license.updated', 'license.suspended', 'license.resumed',
    'license.deleted', 'license.key_rotated', 'license.expiring', 'license.expired',
    'seats.exhausted', 'seats.utilization_high', 'seats.utilization_normal',
    'session.revoked', 'workstation.blocked', 'workstation.unblocked',
    'member.invited', 'member.removed', 'api_key.created', 'api_key.revoked',
    'usage.weekly_summary', 'license.overage_entered', 'license.overage_exited',
    'billing.payment_failed'));

CREATE FUNCTION outbox_billing_payment_failed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM outbox_append(NEW.tenant_id, 'billing.payment_failed', jsonb_build_object(
        'subscription_id', NEW.subscription_id, 'payment_failed_at', NEW.payment_failed_at,
        'grace_ends_at', NEW.grace_ends_at,
        'licenses', (SELECT coalesce(jsonb_agg(i.license_id ORDER BY i.license_id), '[]'::jsonb)
                     FROM billing_items i WHERE i.subscription_id = NEW.subscription_id AND NOT i.ended)));
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_payment_failed AFTER UPDATE OF payment_failed_at ON billing_subscriptions FOR EACH ROW
    WHEN (OLD.payment_failed_at IS NULL AND NEW.payment_failed_at IS NOT NULL)
    EXECUTE FUNCTION outbox_billing_payment_failed();
REVOKE ALL ON FUNCTION outbox_billing_payment_failed() FROM PUBLIC;
