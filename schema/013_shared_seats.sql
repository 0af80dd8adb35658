-- Seat policies, first slice (issue 20): a seat several processes of one
-- workstation hold. Holders live in Redis with the session; what
-- PostgreSQL keeps is the policy bounding them.
--
-- max_instances_per_seat: the most processes that may hold one seat at
-- once (NULL: no limit of the policy; the seat scripts bound every seat at
-- 256 holders, seats.MaxHoldersPerSeat). A tenant's admins set it, like
-- the other usage policies.
ALTER TABLE licenses
    ADD COLUMN max_instances_per_seat integer CHECK (max_instances_per_seat BETWEEN 1 AND 256);

-- Events show the new policy field, and a change of it alone is
-- license.updated, as a change of any other policy field is. 010 wrote the
-- field list twice, inside both functions; it is now one function both
-- read, so the next policy field is one CREATE OR REPLACE of it, not another
-- copy of the trigger's body. (This migration restates the body once, to
-- read the list from there.)
CREATE FUNCTION outbox_license_fields() RETURNS text[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    -- The fields whose change is license.updated (status has its own
    -- events; key_prefix moves only with the key).
    SELECT ARRAY['product', 'seats', 'expires_at', 'lease_ttl_seconds', 'max_lease_ttl_seconds',
                 'require_user', 'max_seats_per_user', 'max_instances_per_seat', 'leasing']
$$;

CREATE OR REPLACE FUNCTION outbox_license_doc(doc jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, public AS $$
    SELECT outbox_pick(doc, ARRAY['id', 'status', 'key_prefix', 'created_at', 'updated_at', 'deleted_at']
                            || outbox_license_fields())
$$;

CREATE OR REPLACE FUNCTION outbox_license_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    fields  CONSTANT text[] := outbox_license_fields();
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

-- Nobody calls it but the functions above (which run as the owner).
REVOKE ALL ON FUNCTION outbox_license_fields() FROM PUBLIC;
