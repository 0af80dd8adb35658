-- Usage-based billing (issue 21): a license's seat-hours, or the part used
-- above its committed seats (overage), reported to Stripe Billing Meter
-- events once per license, meter and day.
--
-- billing_meters: a license's metered prices, from its Stripe subscription
-- (an item whose price is on a meter and says which license it meters).
-- kind usage meters every seat-minute (pure pay-per-use), kind overage the
-- seat-minutes above the seats (the overage policy makes them possible).
--
-- billing_meter_reports: every meter event sent or about to be sent. A
-- day's quantity is the ledger's measure of that day minus what was already
-- reported for it; a late ledger entry makes a later run send the
-- difference as a further row (seq + 1), so nothing is lost and nothing is
-- counted twice. Each row's identifier is derived from (license, kind, day,
-- seq) and is what Stripe deduplicates meter events by, so a row sent again
-- after a crash between Stripe's answer and the row's update is not counted
-- twice either.
CREATE TABLE billing_meters (
    license_id         uuid NOT NULL REFERENCES licenses (id),
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    kind               text NOT NULL CHECK (kind IN ('usage', 'overage')),
    item_id            text NOT NULL CHECK (item_id ~ '^si_[A-Za-z0-9_]{1,250}$'),
    price_id           text NOT NULL CHECK (length(price_id) BETWEEN 1 AND 255),
    -- The Stripe meter's event_name, and the customer the events name.
    event_name         text NOT NULL CHECK (event_name ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    stripe_customer_id text NOT NULL CHECK (stripe_customer_id ~ '^cus_[A-Za-z0-9_]{1,250}$'),
    -- The first day whose use is billed (UTC), and the day after the last
    -- (NULL: still billed).
    starts_on          date NOT NULL,
    ends_on            date,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (license_id, kind)
);

CREATE TABLE billing_meter_reports (
    license_id   uuid NOT NULL REFERENCES licenses (id),
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    kind         text NOT NULL CHECK (kind IN ('usage', 'overage')),
    day          date NOT NULL,
    seq          integer NOT NULL CHECK (seq >= 1),
    identifier   text NOT NULL UNIQUE CHECK (length(identifier) BETWEEN 1 AND 100),
    -- Seat-minutes (Stripe's meter values are whole numbers).
    quantity     bigint NOT NULL CHECK (quantity > 0),
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'expired')),
    -- A run that is sending the row holds it until then, so a concurrent
    -- run does not send it too; a run that died holding it lets go when
    -- the claim ends, and the next run sends it again (same identifier).
    claimed_until timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    PRIMARY KEY (license_id, kind, day, seq)
);
CREATE INDEX billing_meter_reports_pending ON billing_meter_reports (created_at) WHERE status = 'pending';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['billing_meters', 'billing_meter_reports'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
            WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))', t);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
    END LOOP;
END $$;

-- Billing (license_admin) records a subscription's meters and shows them;
-- BillingSchedule (license_cleanup) reports; Usage (license_reader) shows
-- what was billed beside what was measured.
GRANT SELECT, INSERT, UPDATE ON billing_meters TO license_admin;
GRANT SELECT ON billing_meter_reports TO license_admin;
GRANT SELECT ON billing_meters TO license_cleanup;
GRANT SELECT, INSERT, UPDATE ON billing_meter_reports TO license_cleanup;
GRANT SELECT ON billing_meters, billing_meter_reports TO license_reader;
