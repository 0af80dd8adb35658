-- Notifications, first slice (issue 19): the transactional outbox, and the
-- events of admin changes, appended by triggers in the same transaction as
-- the change, so a change commits with its events or not at all and no code
-- path can forget one. Delivery (webhooks, e-mail) comes later: it reads the
-- pending rows and sets delivered_at.
--
-- Event types are the issue's catalogue. This migration produces the admin
-- changes' (license.*, but expiring/expired; member.*; api_key.*;
-- workstation.*; session.revoked); the seat events (from the ledger drain)
-- and the scheduled ones (expiry, weekly summary) come with later slices
-- and use dedupe_key, so a repeated run or a replayed drain adds nothing.
--
-- Events never carry a secret: no license key or key hash (the previous
-- one included), no API key secret or hash, no session id. The payloads
-- are built from a list of visible fields (a whitelist), so a column added
-- later is left out until someone adds it here on purpose.
CREATE TABLE outbox_events (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    type          text NOT NULL CHECK (type IN (
                      'license.created', 'license.updated', 'license.suspended', 'license.resumed',
                      'license.deleted', 'license.key_rotated', 'license.expiring', 'license.expired',
                      'seats.exhausted', 'seats.utilization_high', 'seats.utilization_normal',
                      'session.revoked', 'workstation.blocked', 'workstation.unblocked',
                      'member.invited', 'member.removed', 'api_key.created', 'api_key.revoked',
                      'usage.weekly_summary')),
    -- The payload's version: a receiver reads payload by (type, version).
    version       integer NOT NULL DEFAULT 1,
    payload       jsonb NOT NULL,
    -- Scheduled and ledger-derived events name themselves here, so a
    -- repeated run adds nothing (ON CONFLICT DO NOTHING). NULL for the
    -- admin changes' events: each change is its own event.
    dedupe_key    text UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- NULL: pending. The deliverer sets it.
    delivered_at  timestamptz
);
-- The deliverer's read: pending rows, oldest first. Partial, so delivered
-- rows (nearly all, in time) cost the index nothing.
CREATE INDEX outbox_events_pending ON outbox_events (created_at, id) WHERE delivered_at IS NULL;
-- A tenant's events in order (the later listing).
CREATE INDEX outbox_events_tenant ON outbox_events (tenant_id, created_at, id);

-- Row-level security as every tenant table (005), forced on the owner too:
-- the triggers below insert as the owner, under the scope of the
-- transaction that made the change, so an event lands in the changed row's
-- tenant or is refused.
ALTER TABLE outbox_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox_events
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));

-- outbox_append adds one event of the scope's tenant rows, with the
-- scope's actor (NULL: the service acting on its own). Called only by the
-- SECURITY DEFINER functions below, which run as the owner; no login role
-- may call it.
CREATE FUNCTION outbox_append(p_tenant uuid, p_type text, p_payload jsonb) RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, public AS $$
    INSERT INTO outbox_events (tenant_id, type, payload)
    VALUES (p_tenant, p_type, p_payload || jsonb_build_object('actor', app_scope_actor()))
$$;

-- A row's visible fields, as a JSON object: only the keys named (a
-- whitelist), so hashes and bookkeeping columns never leave.
CREATE FUNCTION outbox_pick(doc jsonb, keys text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    SELECT coalesce(jsonb_object_agg(k, doc -> k), '{}'::jsonb) FROM unnest(keys) AS k WHERE doc ? k
$$;

-- What an event shows of a license: the fields the API shows (key_prefix,
-- the key's first characters, is shown there too; never the key or its
-- hash).
CREATE FUNCTION outbox_license_doc(doc jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    SELECT outbox_pick(doc, ARRAY['id', 'product', 'seats', 'status', 'expires_at', 'lease_ttl_seconds',
        'max_lease_ttl_seconds', 'require_user', 'max_seats_per_user', 'leasing', 'key_prefix',
        'created_at', 'updated_at', 'deleted_at'])
$$;

-- Licenses. One change, the events it is:
--   INSERT                           license.created
--   status to deleted, or DELETE     license.deleted (and nothing else)
--   key_hash changed (rotate-key)    license.key_rotated
--   status active → suspended        license.suspended
--   status suspended → active        license.resumed
--   any other visible field changed  license.updated, payload.changed names them
-- A PATCH that changes the status and other fields is both its status
-- event and license.updated (for the other fields). An update that changes
-- nothing visible (the same values again: only revision and updated_at
-- move) is no event.
CREATE FUNCTION outbox_license_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    -- The fields whose change is license.updated (status has its own
    -- events; key_prefix moves only with the key).
    fields  CONSTANT text[] := ARRAY['product', 'seats', 'expires_at', 'lease_ttl_seconds', 'max_lease_ttl_seconds',
                                     'require_user', 'max_seats_per_user', 'leasing'];
    old_doc jsonb;
    new_doc jsonb;
    changed text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM outbox_append(NEW.tenant_id, 'license.created',
            jsonb_build_object('license', outbox_license_doc(to_jsonb(NEW))));
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'deleted' THEN
            PERFORM outbox_append(OLD.tenant_id, 'license.deleted',
                jsonb_build_object('license', outbox_license_doc(to_jsonb(OLD))));
        END IF;
        RETURN NULL;
    END IF;
    IF OLD.status = 'deleted' THEN
        RETURN NULL;
    END IF;
    new_doc := to_jsonb(NEW);
    IF NEW.status = 'deleted' THEN
        PERFORM outbox_append(NEW.tenant_id, 'license.deleted', jsonb_build_object('license', outbox_license_doc(new_doc)));
        RETURN NULL;
    END IF;
    old_doc := to_jsonb(OLD);
    IF OLD.key_hash IS DISTINCT FROM NEW.key_hash THEN
        PERFORM outbox_append(NEW.tenant_id, 'license.key_rotated', jsonb_build_object(
            'license', outbox_license_doc(new_doc),
            -- Until when the replaced key still opens the license (NULL:
            -- no grace).
            'previous_key_expires_at', new_doc -> 'previous_key_expires_at'));
    END IF;
    IF OLD.status = 'active' AND NEW.status = 'suspended' THEN
        PERFORM outbox_append(NEW.tenant_id, 'license.suspended', jsonb_build_object('license', outbox_license_doc(new_doc)));
    ELSIF OLD.status = 'suspended' AND NEW.status = 'active' THEN
        PERFORM outbox_append(NEW.tenant_id, 'license.resumed', jsonb_build_object('license', outbox_license_doc(new_doc)));
    END IF;
    changed := ARRAY(SELECT f FROM unnest(fields) AS f WHERE old_doc -> f IS DISTINCT FROM new_doc -> f ORDER BY f);
    IF cardinality(changed) > 0 THEN
        PERFORM outbox_append(NEW.tenant_id, 'license.updated', jsonb_build_object(
            'license', outbox_license_doc(new_doc),
            'changed', to_jsonb(changed),
            'previous', outbox_pick(old_doc, changed)));
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox AFTER INSERT OR UPDATE OR DELETE ON licenses
    FOR EACH ROW EXECUTE FUNCTION outbox_license_change();

-- Memberships of a tenant (the platform's, tenant_id NULL, are no
-- tenant's event): invited on INSERT, removed when deleted_at is set (the
-- store's soft removal) or the row is deleted. Sign-in's binding and a
-- change of role are no event of this catalogue, and the triggers' WHEN
-- keeps those updates from calling anything.
CREATE FUNCTION outbox_member_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    doc jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN doc := to_jsonb(OLD); ELSE doc := to_jsonb(NEW); END IF;
    PERFORM outbox_append((doc ->> 'tenant_id')::uuid,
        CASE TG_OP WHEN 'INSERT' THEN 'member.invited' ELSE 'member.removed' END,
        jsonb_build_object('member', outbox_pick(doc, ARRAY['id', 'email', 'role', 'kind', 'created_by', 'created_at', 'deleted_at'])));
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_insert AFTER INSERT ON memberships FOR EACH ROW
    WHEN (NEW.tenant_id IS NOT NULL AND NEW.deleted_at IS NULL) EXECUTE FUNCTION outbox_member_change();
CREATE TRIGGER outbox_update AFTER UPDATE OF deleted_at ON memberships FOR EACH ROW
    WHEN (NEW.tenant_id IS NOT NULL AND OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
    EXECUTE FUNCTION outbox_member_change();
CREATE TRIGGER outbox_delete AFTER DELETE ON memberships FOR EACH ROW
    WHEN (OLD.tenant_id IS NOT NULL AND OLD.deleted_at IS NULL) EXECUTE FUNCTION outbox_member_change();

-- API keys: created on INSERT, revoked when revoked_at is set. Never the
-- key or its hash; key_prefix is what the API lists to tell keys apart.
CREATE FUNCTION outbox_api_key_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM outbox_append(NEW.tenant_id,
        CASE TG_OP WHEN 'INSERT' THEN 'api_key.created' ELSE 'api_key.revoked' END,
        jsonb_build_object('api_key', outbox_pick(to_jsonb(NEW),
            ARRAY['id', 'name', 'role', 'key_prefix', 'created_by', 'created_at', 'revoked_at'])));
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_insert AFTER INSERT ON api_keys FOR EACH ROW
    WHEN (NEW.revoked_at IS NULL) EXECUTE FUNCTION outbox_api_key_change();
CREATE TRIGGER outbox_update AFTER UPDATE OF revoked_at ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL) EXECUTE FUNCTION outbox_api_key_change();

-- Workstations: blocked and unblocked. Every acquire from a workstation
-- writes its row (shared/workstations' sightings: an INSERT, or an UPDATE
-- of hostname, os, last_user and last_seen_at, never of blocked, as 004
-- and 006 note); the WHEN clauses keep those writes from calling anything,
-- so sightings add no event and no cost.
CREATE FUNCTION outbox_workstation_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    PERFORM outbox_append(NEW.tenant_id,
        CASE WHEN NEW.blocked THEN 'workstation.blocked' ELSE 'workstation.unblocked' END,
        jsonb_build_object('workstation', outbox_pick(to_jsonb(NEW),
            ARRAY['id', 'fingerprint', 'hostname', 'os', 'last_user', 'blocked', 'first_seen_at', 'last_seen_at'])));
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_update AFTER UPDATE OF blocked ON workstations FOR EACH ROW
    WHEN (OLD.blocked IS DISTINCT FROM NEW.blocked) EXECUTE FUNCTION outbox_workstation_change();
CREATE TRIGGER outbox_insert AFTER INSERT ON workstations FOR EACH ROW
    WHEN (NEW.blocked) EXECUTE FUNCTION outbox_workstation_change();

-- Sessions ended by an admin change no row (they live in Redis); they are
-- recorded through app_audit (008), in a transaction that commits only if
-- the sessions were ended. session.revoked is appended there, beside the
-- audit entry: one event per call, saying how many sessions ended (a
-- revoke-all that ended none is no event). The session is named by its
-- digest, as the API names it (never its id, its holder's credential).
-- (The rest is 008's app_audit as it was.)
CREATE OR REPLACE FUNCTION app_audit(action text, target_type text, target_id text, detail jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    tenant  uuid := app_scope_tenant();
    who     text := app_scope_actor();
    license uuid;
    n       bigint;
    doc     jsonb;
BEGIN
    IF tenant IS NULL OR who IS NULL THEN
        RAISE EXCEPTION 'app_audit needs a tenant scope with an actor' USING ERRCODE = '42501';
    END IF;
    INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id, before, after)
    VALUES (tenant, who, action, target_type, target_id, NULL, detail);
    IF action = 'session.revoke' THEN
        license := (detail ->> 'license_id')::uuid;
        n := 1;
    ELSIF action = 'license.revoke_sessions' THEN
        license := target_id::uuid;
        n := coalesce((detail ->> 'revoked')::bigint, 0);
    ELSE
        RETURN;
    END IF;
    IF n = 0 THEN
        RETURN;
    END IF;
    SELECT outbox_license_doc(to_jsonb(l)) INTO doc FROM licenses l WHERE l.id = license AND l.tenant_id = tenant;
    PERFORM outbox_append(tenant, 'session.revoked', jsonb_build_object(
        'license', coalesce(doc, jsonb_build_object('id', license)),
        'sessions', n,
        'session_digest', CASE WHEN action = 'session.revoke' THEN to_jsonb(target_id) ELSE 'null'::jsonb END));
END $$;

-- Nobody calls these but the triggers and app_audit (which run as the
-- owner). Functions are executable by PUBLIC by default.
REVOKE ALL ON FUNCTION outbox_append(uuid, text, jsonb), outbox_pick(jsonb, text[]), outbox_license_doc(jsonb),
    outbox_license_change(), outbox_member_change(), outbox_api_key_change(), outbox_workstation_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION app_audit(text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_audit(text, text, text, jsonb) TO license_admin;

-- No login role writes an event: the triggers do, as the owner. The
-- reader role will list a tenant's events; the cleanup role, which already
-- runs the schedule, delivers them (a later slice): it reads pending rows
-- (FOR UPDATE SKIP LOCKED needs an UPDATE right, which delivered_at is)
-- and marks them delivered, and may change nothing else of an event.
REVOKE ALL ON outbox_events FROM PUBLIC;
GRANT SELECT ON outbox_events TO license_reader, license_cleanup;
GRANT UPDATE (delivered_at) ON outbox_events TO license_cleanup;
