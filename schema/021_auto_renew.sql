-- Renewal without Stripe (issue 21): a license with auto_renew_period
-- ('P1M' a month, 'P1Y' a year) has its expires_at moved on by whole
-- periods on its expiry day (UTC), by BillingSchedule's hourly run, which
-- appends license.renewed. The reminders before are license.expiring's (012).
-- It changes what the vendor sells, so it is a commercial term: the
-- platform alone sets it (functions/licenses enforces who).
ALTER TABLE licenses ADD COLUMN auto_renew_period text CHECK (auto_renew_period IN ('P1M', 'P1Y'));

-- A change of the policy is license.updated, like the others.
CREATE OR REPLACE FUNCTION outbox_license_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    -- The fields whose change is license.updated (status has its own
    -- events; key_prefix moves only with the key).
    SELECT ARRAY['product', 'seats', 'expires_at', 'lease_ttl_seconds', 'max_lease_ttl_seconds',
                 'require_user', 'max_seats_per_user', 'max_instances_per_seat', 'leasing',
                 'linger_seconds', 'revive_seconds', 'borrow', 'overage_mode', 'overage_value', 'auto_renew_period']
$$;

ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_type_check;
ALTER TABLE outbox_events ADD CONSTRAINT outbox_events_type_check CHECK (type IN (
    'license.created', 'license.updated', 'license.suspended', 'license.resumed',
    'license.deleted', 'license.key_rotated', 'license.expiring', 'license.expired',
    'seats.exhausted', 'seats.utilization_high', 'seats.utilization_normal',
    'session.revoked', 'workstation.blocked', 'workstation.unblocked',
    'member.invited', 'member.removed', 'api_key.created', 'api_key.revoked',
    'usage.weekly_summary', 'license.overage_entered', 'license.overage_exited',
    'billing.payment_failed', 'license.renewed'));

-- Renews, at p_now, every active license with a period whose expiry falls
-- on or before the end of p_now's UTC day, or within the next two hours
-- (the run is hourly: an expiry just after midnight is renewed by the last
-- run before it, not minutes late by the first run of its day): whole
-- periods are added to the expiry (PostgreSQL's calendar arithmetic: 31
-- January + 1 month is 28 or 29 February) until it is past that horizon, so
-- a renewal a run missed is caught up in one step. Each renewal appends one license.renewed (and
-- the trigger its license.updated and audit entry, with the caller's actor).
-- A second run, or one at the same time, finds the expiry already moved
-- (the UPDATE re-checks it under the row's lock) and renews nothing. It
-- runs as the owner because license_cleanup may not change licenses
-- otherwise; it changes only expires_at, of exactly these licenses.
CREATE FUNCTION license_auto_renew(p_now timestamptz) RETURNS TABLE (tenant_id uuid, license_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    horizon timestamptz := greatest(date_trunc('day', p_now AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 day',
                                    p_now + interval '2 hours');
    r       record;
    step    interval;
    n       integer;
    renewed timestamptz;
BEGIN
    FOR r IN
        SELECT l.id, l.tenant_id, l.expires_at, l.auto_renew_period FROM licenses l JOIN tenants t ON t.id = l.tenant_id
        WHERE l.auto_renew_period IS NOT NULL AND l.status = 'active' AND t.status = 'active'
          AND l.expires_at IS NOT NULL AND l.expires_at <= horizon
        ORDER BY l.id
    LOOP
        step := CASE r.auto_renew_period WHEN 'P1Y' THEN interval '1 year' ELSE interval '1 month' END;
        n := 1;
        WHILE r.expires_at + step * n <= horizon LOOP
            n := n + 1;
        END LOOP;
        UPDATE licenses l SET expires_at = r.expires_at + step * n, revision = l.revision + 1, updated_at = now()
        WHERE l.id = r.id AND l.expires_at = r.expires_at AND l.auto_renew_period = r.auto_renew_period AND l.status = 'active'
        RETURNING l.expires_at INTO renewed;
        IF FOUND THEN
            PERFORM outbox_append(r.tenant_id, 'license.renewed', jsonb_build_object(
                'license', outbox_license_doc(to_jsonb(l.*)), 'previous_expires_at', r.expires_at,
                'expires_at', renewed, 'period', r.auto_renew_period, 'periods', n))
            FROM licenses l WHERE l.id = r.id;
            tenant_id := r.tenant_id;
            license_id := r.id;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;
REVOKE ALL ON FUNCTION license_auto_renew(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION license_auto_renew(timestamptz) TO license_cleanup;
