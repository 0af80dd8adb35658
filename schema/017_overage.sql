-- Seat policies, overage (issue 20): a team may go over its seats, up to an
-- allowance, and the vendor bills the excess from the ledger.
--
-- overage_mode / overage_value: the allowance, the most live sessions an
-- acquire grants, is
--   none       seats (the default: every existing license keeps today's
--              behaviour)
--   percent    seats + floor(seats * overage_value / 100)
--   absolute   seats + overage_value
--   unlimited  no bound
-- It changes what the vendor bills, so it is a commercial term: the
-- platform alone sets it, like seats and expires_at (functions/licenses
-- enforces who may write it). The seat scripts enforce it from the
-- allowance written through to Redis (meta oa).
--
-- Written as following 016 (borrow), whose kinds and end kind the checks
-- below keep, and whose borrow column the events' field list names (a
-- field a row lacks is simply left out of a document).
ALTER TABLE licenses
    ADD COLUMN overage_mode text NOT NULL DEFAULT 'none'
        CHECK (overage_mode IN ('none', 'percent', 'absolute', 'unlimited')),
    ADD COLUMN overage_value integer NOT NULL DEFAULT 0 CHECK (overage_value >= 0);

-- The allowance of a license's policy (NULL: unlimited), as
-- seats.License.Allowance computes it.
CREATE FUNCTION license_allowance(p_seats integer, p_mode text, p_value integer) RETURNS integer
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    SELECT CASE p_mode
        WHEN 'percent' THEN p_seats + (p_seats::bigint * p_value / 100)::integer
        WHEN 'absolute' THEN p_seats + p_value
        WHEN 'unlimited' THEN NULL
        ELSE p_seats END
$$;

-- The ledger's new kinds:
--   reclassified     an overage session became entitled here (an entitled
--                    seat freed, or the seats were raised): its overage
--                    part of the interval ends
--   overage_entered  the license's first overage session was granted (no
--                    session named)
--   overage_exited   its last overage session ended or became entitled
--                    (no session named)
-- An acquired event says whether the grant was overage.
ALTER TABLE usage_events DROP CONSTRAINT usage_events_kind_check;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_kind_check
    CHECK (kind IN ('acquired', 'released', 'expired', 'denied', 'revoked', 'linger_ended', 'reattached', 'revived',
                    'borrowed', 'borrow_extended', 'returned',
                    'reclassified', 'overage_entered', 'overage_exited'));
ALTER TABLE usage_events ADD COLUMN overage boolean NOT NULL DEFAULT false;

ALTER TABLE usage_sessions DROP CONSTRAINT usage_sessions_end_kind_check;
ALTER TABLE usage_sessions ADD CONSTRAINT usage_sessions_end_kind_check
    CHECK (end_kind IN ('released', 'expired', 'revoked', 'linger_ended', 'returned'));

-- A seat interval granted as overage is overage from its start until
-- overage_until (its reclassified event) or, with none, its end. Only an
-- acquired interval can be: a revive takes a free seat, so it is entitled.
ALTER TABLE usage_sessions
    ADD COLUMN overage boolean NOT NULL DEFAULT false,
    ADD COLUMN overage_until timestamptz,
    ADD CHECK (overage OR overage_until IS NULL);

-- Events show the policy, and a change of it alone is license.updated.
CREATE OR REPLACE FUNCTION outbox_license_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    -- The fields whose change is license.updated (status has its own
    -- events; key_prefix moves only with the key).
    SELECT ARRAY['product', 'seats', 'expires_at', 'lease_ttl_seconds', 'max_lease_ttl_seconds',
                 'require_user', 'max_seats_per_user', 'max_instances_per_seat', 'leasing',
                 'linger_seconds', 'revive_seconds', 'borrow', 'overage_mode', 'overage_value']
$$;

-- license.overage_entered and license.overage_exited, derived from the
-- ledger like seats.exhausted: a trigger on the rows a drain actually
-- inserts, so a replayed drain (which inserts none) derives none, and the
-- stream id in the dedupe key makes each ledger edge one event. The Lua
-- records an edge only when the license's overage set turns non-empty or
-- empty, so they alternate.
ALTER TABLE outbox_events DROP CONSTRAINT outbox_events_type_check;
ALTER TABLE outbox_events ADD CONSTRAINT outbox_events_type_check CHECK (type IN (
    'license.created', 'license.updated', 'license.suspended', 'license.resumed',
    'license.deleted', 'license.key_rotated', 'license.expiring', 'license.expired',
    'seats.exhausted', 'seats.utilization_high', 'seats.utilization_normal',
    'session.revoked', 'workstation.blocked', 'workstation.unblocked',
    'member.invited', 'member.removed', 'api_key.created', 'api_key.revoked',
    'usage.weekly_summary', 'license.overage_entered', 'license.overage_exited'));

CREATE OR REPLACE FUNCTION outbox_emit(p_tenant uuid, p_type text, p_payload jsonb, p_dedupe text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n bigint;
BEGIN
    IF p_type NOT IN ('license.expiring', 'license.expired', 'seats.exhausted', 'seats.utilization_high',
                      'seats.utilization_normal', 'usage.weekly_summary',
                      'license.overage_entered', 'license.overage_exited') THEN
        RAISE EXCEPTION 'outbox_emit: % is not a derived event type', p_type USING ERRCODE = '42501';
    END IF;
    IF p_dedupe IS NULL OR p_dedupe = '' THEN
        RAISE EXCEPTION 'outbox_emit: a derived event needs a dedupe key' USING ERRCODE = '22023';
    END IF;
    INSERT INTO outbox_events (tenant_id, type, payload, dedupe_key)
    VALUES (p_tenant, p_type, p_payload || jsonb_build_object('actor', NULL), p_dedupe)
    ON CONFLICT (dedupe_key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END $$;

-- Payload: the license as events show it, its seats and allowance (null:
-- unlimited) as they are when the drain stores the edge, and when the
-- edge happened (the ledger's at).
CREATE FUNCTION outbox_overage_edges() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    d record;
BEGIN
    FOR d IN SELECT i.license_id, i.tenant_id, i.stream_id, i.kind, i.at, to_jsonb(l) AS lic,
                    l.seats, license_allowance(l.seats, l.overage_mode, l.overage_value) AS allowance
             FROM inserted i JOIN licenses l ON l.id = i.license_id
             WHERE i.kind IN ('overage_entered', 'overage_exited')
             ORDER BY i.license_id, split_part(i.stream_id, '-', 1)::bigint, split_part(i.stream_id, '-', 2)::bigint LOOP
        PERFORM outbox_emit(d.tenant_id, 'license.' || d.kind, jsonb_build_object(
                'license', outbox_license_doc(d.lic),
                'seats', d.seats,
                'allowance', d.allowance,
                'at', d.at),
            'license.' || d.kind || ':' || d.license_id || ':' || d.stream_id);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_overage AFTER INSERT ON usage_events
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION outbox_overage_edges();

REVOKE ALL ON FUNCTION outbox_overage_edges(), license_allowance(integer, text, integer) FROM PUBLIC;
