-- The operator's seat controls (issue 17): ending sessions, the ledger
-- naming who ended them, and license key rotation.

-- Who ended a session (kind revoked): the admin's actor, as the audit log
-- names it; '' for the service (a suspended license, a heartbeat of a
-- blocked workstation) and for every other kind.
ALTER TABLE usage_events ADD COLUMN actor text NOT NULL DEFAULT '';

-- Key rotation: the key a rotation replaced keeps opening the license for
-- acquires until previous_key_expires_at (the grace the admin chose, 0 to 7
-- days), then never again. One previous key at most: a second rotation
-- replaces it. Live sessions are not touched by either.
ALTER TABLE licenses ADD COLUMN previous_key_hash text;
ALTER TABLE licenses ADD COLUMN previous_key_expires_at timestamptz;
ALTER TABLE licenses ADD CONSTRAINT licenses_previous_key
    CHECK ((previous_key_hash IS NULL) = (previous_key_expires_at IS NULL));

-- The audit documents never carry a key hash, the previous one included;
-- a change of the key is audited as license.rotate_key. (The rest is 005's
-- audit_change as it was.)
CREATE OR REPLACE FUNCTION audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    actor   text := app_scope_actor();
    old_doc jsonb;
    new_doc jsonb;
    doc     jsonb;
    verb    text := CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END;
BEGIN
    -- Changes the service makes on its own (a workstation seen on acquire)
    -- run without an actor and are not admin changes.
    IF actor IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN old_doc := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_doc := to_jsonb(NEW); END IF;
    IF TG_OP = 'UPDATE' AND TG_ARGV[0] = 'license' AND old_doc ->> 'key_hash' IS DISTINCT FROM new_doc ->> 'key_hash' THEN
        verb := 'rotate_key';
    END IF;
    old_doc := old_doc - 'key_hash' - 'previous_key_hash';
    new_doc := new_doc - 'key_hash' - 'previous_key_hash';
    doc := coalesce(new_doc, old_doc);
    IF verb = 'rotate_key' THEN
        NULL;
    ELSIF TG_OP = 'UPDATE' AND (old_doc ->> 'status' IS DISTINCT FROM 'deleted') AND new_doc ->> 'status' = 'deleted' THEN
        verb := 'delete';
    ELSIF TG_OP = 'UPDATE' AND old_doc ? 'deleted_at' AND old_doc ->> 'deleted_at' IS NULL
          AND new_doc ->> 'deleted_at' IS NOT NULL THEN
        verb := 'delete';
    ELSIF TG_OP = 'UPDATE' AND old_doc ? 'revoked_at' AND old_doc ->> 'revoked_at' IS NULL
          AND new_doc ->> 'revoked_at' IS NOT NULL THEN
        verb := 'revoke';
    END IF;
    INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id, before, after)
    VALUES (
        CASE WHEN TG_TABLE_NAME = 'tenants' THEN (doc ->> 'id')::uuid ELSE (doc ->> 'tenant_id')::uuid END,
        actor, TG_ARGV[0] || '.' || verb, TG_ARGV[0], doc ->> 'id', old_doc, new_doc);
    RETURN NULL;
END $$;

-- Actions that change no row (ending sessions, which live in Redis) are
-- audited through this function: it writes the audit log as the owner,
-- with the tenant and actor of the transaction's scope, so the admin role
-- can record an action but neither forge its actor nor write another
-- tenant's log. A scope without a tenant (the platform's) or without an
-- actor is refused: such an entry would belong to no one.
CREATE FUNCTION app_audit(action text, target_type text, target_id text, detail jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    tenant uuid := app_scope_tenant();
    who    text := app_scope_actor();
BEGIN
    IF tenant IS NULL OR who IS NULL THEN
        RAISE EXCEPTION 'app_audit needs a tenant scope with an actor' USING ERRCODE = '42501';
    END IF;
    INSERT INTO audit_log (tenant_id, actor, action, target_type, target_id, before, after)
    VALUES (tenant, who, action, target_type, target_id, NULL, detail);
END $$;
REVOKE ALL ON FUNCTION app_audit(text, text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_audit(text, text, text, jsonb) TO license_admin;

-- The cleanup drains the ledger with the actor; the reader reports it.
-- (Both hold table-wide grants on usage_events already, which cover the
-- new column; license_admin holds UPDATE on licenses, which covers the
-- rotation's columns.)
