-- Seat policies, second slice: a tool that stopped for a moment gets its
-- session back instead of a new one (or none). PostgreSQL keeps the
-- policy; the seat scripts enforce it from the license's metadata in Redis
-- (written through as lg and rv). 0, the default, is off, so existing
-- licenses keep today's behaviour.
--
-- linger_seconds: after a release the seat keeps counting for this long
-- (never past the license's expiry), so the same holder starting the tool
-- again (same workstation fingerprint, or same user under per-user
-- leasing) takes the same session back.
-- revive_seconds: a heartbeat for a session that expired at most this
-- long ago revives it, only if a seat is free right now.
-- A tenant's admins set both, like the other usage policies.
ALTER TABLE licenses
    ADD COLUMN linger_seconds integer NOT NULL DEFAULT 0 CHECK (linger_seconds BETWEEN 0 AND 86400),
    ADD COLUMN revive_seconds integer NOT NULL DEFAULT 0 CHECK (revive_seconds BETWEEN 0 AND 900);

-- Events show the new fields, and a change of either alone is
-- license.updated (013 made the list one function for this).
CREATE OR REPLACE FUNCTION outbox_license_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    -- The fields whose change is license.updated (status has its own
    -- events; key_prefix moves only with the key).
    SELECT ARRAY['product', 'seats', 'expires_at', 'lease_ttl_seconds', 'max_lease_ttl_seconds',
                 'require_user', 'max_seats_per_user', 'max_instances_per_seat', 'leasing',
                 'linger_seconds', 'revive_seconds']
$$;
