-- Notifications, third slice (issue 19): the events the service derives
-- itself, each exactly once.
--
--   seats.exhausted           from the ledger drain: a trigger on the rows a
--                             drain actually inserts (a replayed drain
--                             inserts none, so it derives none)
--   seats.utilization_high,   from the cleanup run after its drain, which
--   seats.utilization_normal  samples the sessions the ledger has open
--   license.expiring,         from Notify's scheduled run
--   license.expired,
--   usage.weekly_summary
--
-- Each goes through outbox_emit (011) with a dedupe key naming what it is
-- about, so a repeated run, a replayed drain or two overlapping runs add
-- nothing.

-- Per license, where its seat events stand.
CREATE TABLE seat_alerts (
    license_id    uuid PRIMARY KEY REFERENCES licenses (id),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    -- The denial of the last seats.exhausted (the next is due an hour
    -- later at the earliest).
    exhausted_at  timestamptz,
    -- Since when at least 90 % of the seats are in use (NULL: fewer).
    high_since    timestamptz,
    -- Whether seats.utilization_high went out for this high_since, so its
    -- end is seats.utilization_normal.
    high_alerted  boolean NOT NULL DEFAULT false
);
ALTER TABLE seat_alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE seat_alerts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seat_alerts
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
REVOKE ALL ON seat_alerts FROM PUBLIC;

-- The sampling reads the sessions still open, per license.
CREATE INDEX usage_sessions_open ON usage_sessions (license_id) WHERE ended_at IS NULL;

-- How many of a license's sessions the ledger has open at an instant.
CREATE FUNCTION seats_in_use_at(p_license uuid, p_at timestamptz) RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog, public AS $$
    SELECT count(*) FROM usage_sessions
    WHERE license_id = p_license AND started_at <= p_at AND (ended_at IS NULL OR ended_at > p_at)
$$;

-- seats.exhausted: a denial because every seat was taken ('no_seats'; a
-- blocked workstation or an inactive license is no shortage), at most one
-- per license per hour: the first denial, then the first an hour or more
-- after the last event's. The drain stores one license's entries in stream
-- order, so the denials come here in the order they happened.
CREATE FUNCTION outbox_seat_denials() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    d    record;
    prev timestamptz;
    lic  jsonb;
BEGIN
    FOR d IN SELECT license_id, tenant_id, stream_id, at, user_name, hostname FROM inserted
             WHERE kind = 'denied' AND reason = 'no_seats' ORDER BY license_id, at, stream_id LOOP
        SELECT exhausted_at INTO prev FROM seat_alerts WHERE license_id = d.license_id FOR UPDATE;
        IF prev IS NOT NULL AND d.at < prev + interval '1 hour' THEN
            CONTINUE;
        END IF;
        INSERT INTO seat_alerts (license_id, tenant_id, exhausted_at) VALUES (d.license_id, d.tenant_id, d.at)
        ON CONFLICT (license_id) DO UPDATE SET exhausted_at = EXCLUDED.exhausted_at;
        SELECT outbox_license_doc(to_jsonb(l)) INTO lic FROM licenses l WHERE l.id = d.license_id;
        PERFORM outbox_emit(d.tenant_id, 'seats.exhausted', jsonb_build_object(
                'license', lic,
                'denied_at', d.at,
                'seats', lic -> 'seats',
                'in_use', seats_in_use_at(d.license_id, d.at),
                'user', d.user_name,
                'hostname', d.hostname),
            'seats.exhausted:' || d.license_id || ':' || d.stream_id);
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_seats AFTER INSERT ON usage_events
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION outbox_seat_denials();

-- seats.utilization_high and _normal, sampled at p_now: a license whose
-- open sessions are at least 90 % of its seats has been high since the
-- first sample that saw it so; after 10 minutes of that, high goes out
-- (once per high period, the period's start in its key); the first sample
-- below ends the period, with normal if high went out. Returns how many
-- events it added. Only licenses with open sessions or a period under way
-- are looked at.
CREATE FUNCTION seat_alerts_tick(p_now timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    r     record;
    n     integer := 0;
    key   text;
    high  boolean;
BEGIN
    FOR r IN
        SELECT l.id, l.tenant_id, l.seats, l.status, outbox_license_doc(to_jsonb(l)) AS doc,
               coalesce(o.in_use, 0) AS in_use, a.high_since, coalesce(a.high_alerted, false) AS high_alerted
        FROM licenses l
        LEFT JOIN (SELECT license_id, count(*) AS in_use FROM usage_sessions WHERE ended_at IS NULL GROUP BY license_id) o
               ON o.license_id = l.id
        LEFT JOIN seat_alerts a ON a.license_id = l.id
        WHERE o.in_use IS NOT NULL OR a.high_since IS NOT NULL
        ORDER BY l.id
    LOOP
        high := r.status = 'active' AND r.seats > 0 AND r.in_use * 100 >= r.seats * 90;
        key := r.id || ':' || coalesce(extract(epoch FROM r.high_since)::text, '');
        IF high AND r.high_since IS NULL THEN
            INSERT INTO seat_alerts (license_id, tenant_id, high_since, high_alerted) VALUES (r.id, r.tenant_id, p_now, false)
            ON CONFLICT (license_id) DO UPDATE SET high_since = p_now, high_alerted = false;
        ELSIF high AND NOT r.high_alerted AND p_now >= r.high_since + interval '10 minutes' THEN
            IF outbox_emit(r.tenant_id, 'seats.utilization_high', jsonb_build_object(
                    'license', r.doc, 'seats', r.seats, 'in_use', r.in_use, 'high_since', r.high_since,
                    'threshold_percent', 90),
                'seats.utilization_high:' || key) THEN
                n := n + 1;
            END IF;
            UPDATE seat_alerts SET high_alerted = true WHERE license_id = r.id;
        ELSIF NOT high AND r.high_since IS NOT NULL THEN
            IF r.high_alerted AND outbox_emit(r.tenant_id, 'seats.utilization_normal', jsonb_build_object(
                    'license', r.doc, 'seats', r.seats, 'in_use', r.in_use, 'high_since', r.high_since,
                    'normal_at', p_now),
                'seats.utilization_normal:' || key) THEN
                n := n + 1;
            END IF;
            UPDATE seat_alerts SET high_since = NULL, high_alerted = false WHERE license_id = r.id;
        END IF;
    END LOOP;
    RETURN n;
END $$;

-- license.expiring and license.expired at p_now, for licenses that are
-- active or suspended (a suspension may be lifted; a deleted license is
-- nobody's concern). expiring: the smallest of 30, 7 and 1 days already
-- reached, so a license made five days before its end gets the 7-day
-- notice, not a late 30-day one, and each notice goes once per expires_at
-- (an extended license gets its notices again). expired: once, within a
-- week of the end (an old end found later is history, not news).
CREATE FUNCTION license_expiry_emit(p_now timestamptz, OUT expiring integer, OUT expired integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    r    record;
    ends text;
BEGIN
    expiring := 0;
    expired := 0;
    FOR r IN
        SELECT l.id, l.tenant_id, l.expires_at, outbox_license_doc(to_jsonb(l)) AS doc,
               (SELECT min(d) FROM unnest(ARRAY[1, 7, 30]) AS d WHERE l.expires_at - make_interval(days => d) <= p_now) AS days
        FROM licenses l
        WHERE l.status IN ('active', 'suspended') AND l.expires_at IS NOT NULL
          AND l.expires_at > p_now - interval '7 days' AND l.expires_at <= p_now + interval '30 days'
        ORDER BY l.expires_at, l.id
    LOOP
        ends := extract(epoch FROM r.expires_at)::text;
        IF r.expires_at <= p_now THEN
            IF outbox_emit(r.tenant_id, 'license.expired', jsonb_build_object('license', r.doc, 'expires_at', r.expires_at),
                           'license.expired:' || r.id || ':' || ends) THEN
                expired := expired + 1;
            END IF;
        ELSIF outbox_emit(r.tenant_id, 'license.expiring', jsonb_build_object(
                      'license', r.doc, 'expires_at', r.expires_at, 'days', r.days),
                  'license.expiring:' || r.id || ':' || ends || ':' || r.days) THEN
            expiring := expiring + 1;
        END IF;
    END LOOP;
END $$;

-- usage.weekly_summary: for each tenant with a license, once a week, on
-- the first run at or after Monday 08:00 in the tenant's time zone (its
-- notification settings; UTC without), about the week that ended at that
-- Monday's midnight (a tenant made since has none). A run that finds this week's summary sent skips the
-- tenant at the cost of one index probe. Returns how many it added.
CREATE FUNCTION weekly_summary_emit(p_now timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    t        record;
    tz       text;
    local_now timestamp;
    monday   timestamp;
    w_start  timestamptz;
    w_end    timestamptz;
    key      text;
    lics     jsonb;
    users    jsonb;
    n        integer := 0;
BEGIN
    FOR t IN
        SELECT tn.id, tn.created_at, coalesce(s.time_zone, 'UTC') AS time_zone FROM tenants tn
        LEFT JOIN notification_settings s ON s.tenant_id = tn.id
        WHERE tn.status <> 'deleted' AND EXISTS (SELECT 1 FROM licenses l WHERE l.tenant_id = tn.id AND l.status <> 'deleted')
        ORDER BY tn.id
    LOOP
        tz := t.time_zone;
        BEGIN
            local_now := p_now AT TIME ZONE tz;
        EXCEPTION WHEN invalid_parameter_value THEN
            -- A zone this server no longer knows: UTC rather than no summary.
            tz := 'UTC';
            local_now := p_now AT TIME ZONE tz;
        END;
        monday := date_trunc('week', local_now);
        CONTINUE WHEN local_now < monday + interval '8 hours';
        key := 'usage.weekly_summary:' || t.id || ':' || to_char(monday - interval '7 days', 'YYYY-MM-DD');
        CONTINUE WHEN EXISTS (SELECT 1 FROM outbox_events WHERE dedupe_key = key);
        w_start := (monday - interval '7 days') AT TIME ZONE tz;
        w_end := monday AT TIME ZONE tz;
        -- A tenant new this week had no last week to sum up.
        CONTINUE WHEN t.created_at >= w_end;
        -- Per license: the peak of concurrent sessions (a running count of
        -- starts and ends, ends first at a tie, as the usage report), the
        -- seat-hours inside the week, and the denials for want of a seat.
        WITH s AS (
            SELECT license_id, user_name, greatest(started_at, w_start) AS st, least(coalesce(ended_at, p_now), w_end) AS en
            FROM usage_sessions
            WHERE tenant_id = t.id AND started_at < w_end AND coalesce(ended_at, p_now) > w_start
        ), s2 AS (
            SELECT * FROM s WHERE en > st
        ), pts AS (
            SELECT license_id, st AS at, 1 AS d FROM s2 UNION ALL SELECT license_id, en, -1 FROM s2
        ), run AS (
            SELECT license_id, sum(d) OVER (PARTITION BY license_id ORDER BY at, d ROWS UNBOUNDED PRECEDING) AS c FROM pts
        ), peaks AS (
            SELECT license_id, max(c)::int AS peak FROM run GROUP BY license_id
        ), hours AS (
            SELECT license_id, sum(extract(epoch FROM en - st)) / 3600 AS h FROM s2 GROUP BY license_id
        ), denials AS (
            SELECT license_id, count(*)::int AS n FROM usage_events
            WHERE tenant_id = t.id AND kind = 'denied' AND reason = 'no_seats' AND at >= w_start AND at < w_end
            GROUP BY license_id
        )
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'license', outbox_license_doc(to_jsonb(l)),
                   'peak_seats', coalesce(p.peak, 0),
                   'seats', l.seats,
                   'seat_hours', round(coalesce(h.h, 0)::numeric, 3),
                   'denials', coalesce(dn.n, 0)) ORDER BY l.created_at, l.id), '[]'::jsonb)
        INTO lics
        FROM licenses l
        LEFT JOIN peaks p ON p.license_id = l.id
        LEFT JOIN hours h ON h.license_id = l.id
        LEFT JOIN denials dn ON dn.license_id = l.id
        WHERE l.tenant_id = t.id AND (l.status <> 'deleted' OR p.peak IS NOT NULL OR dn.n IS NOT NULL);
        SELECT coalesce(jsonb_agg(jsonb_build_object('user', u.user_name, 'seat_hours', round(u.h::numeric, 3))
                   ORDER BY u.h DESC, u.user_name), '[]'::jsonb)
        INTO users
        FROM (SELECT user_name, sum(extract(epoch FROM least(coalesce(ended_at, p_now), w_end) - greatest(started_at, w_start))) / 3600 AS h
              FROM usage_sessions
              WHERE tenant_id = t.id AND user_name <> '' AND started_at < w_end AND coalesce(ended_at, p_now) > w_start
              GROUP BY user_name ORDER BY 2 DESC, 1 LIMIT 10) u;
        IF outbox_emit(t.id, 'usage.weekly_summary', jsonb_build_object(
                'week_start', w_start, 'week_end', w_end, 'time_zone', tz, 'licenses', lics, 'top_users', users), key) THEN
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END $$;

REVOKE ALL ON FUNCTION seats_in_use_at(uuid, timestamptz), outbox_seat_denials(), seat_alerts_tick(timestamptz),
    license_expiry_emit(timestamptz), weekly_summary_emit(timestamptz) FROM PUBLIC;
-- The background role runs the cleanup (the sampling) and Notify's
-- schedule; nobody else derives events.
GRANT EXECUTE ON FUNCTION seat_alerts_tick(timestamptz), license_expiry_emit(timestamptz), weekly_summary_emit(timestamptz)
    TO license_cleanup;
