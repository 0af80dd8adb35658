-- Identity and tenancy: IdP tenants, license policy, API keys, workstations,
-- repositories, the audit log, and row-level security on every tenant table.

ALTER TABLE tenants ADD COLUMN idp_tenant_id text CHECK (length(idp_tenant_id) BETWEEN 1 AND 128);
CREATE UNIQUE INDEX tenants_idp_live ON tenants (idp_tenant_id)
    WHERE idp_tenant_id IS NOT NULL AND deleted_at IS NULL;

ALTER TABLE licenses
    ADD COLUMN require_user boolean NOT NULL DEFAULT false,
    ADD COLUMN max_seats_per_user integer CHECK (max_seats_per_user BETWEEN 1 AND 100000),
    ADD COLUMN leasing text NOT NULL DEFAULT 'per_fingerprint'
        CHECK (leasing IN ('per_fingerprint', 'per_user'));

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    -- SHA-256 (hex) of the key; the key itself is shown once and never stored.
    key_hash    text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_prefix  text NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at, id);

CREATE TABLE workstations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    fingerprint    text NOT NULL CHECK (length(fingerprint) BETWEEN 1 AND 256),
    hostname       text NOT NULL DEFAULT '',
    os             text NOT NULL DEFAULT '',
    last_user      text NOT NULL DEFAULT '',
    blocked        boolean NOT NULL DEFAULT false,
    first_seen_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, fingerprint)
);
CREATE INDEX workstations_tenant ON workstations (tenant_id, first_seen_at, id);

CREATE TABLE repositories (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Normalised (host/path, lower-case host, no scheme, user or .git), so the
    -- ssh and https forms of one remote are one repository.
    remote_url      text NOT NULL CHECK (length(remote_url) BETWEEN 1 AND 500),
    provider        text NOT NULL DEFAULT '',
    default_branch  text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz
);
CREATE UNIQUE INDEX repositories_remote_live ON repositories (tenant_id, remote_url) WHERE deleted_at IS NULL;
CREATE INDEX repositories_tenant ON repositories (tenant_id, created_at, id);

-- Every admin change, written by triggers in the same transaction as the
-- change, so no code path can forget it. Secrets are never copied here.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    tenant_id    uuid REFERENCES tenants (id),
    actor        text NOT NULL,
    action       text NOT NULL,
    target_type  text NOT NULL,
    target_id    text NOT NULL,
    before       jsonb,
    after        jsonb,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

CREATE FUNCTION audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor   text := current_setting('app.actor', true);
    old_doc jsonb;
    new_doc jsonb;
    doc     jsonb;
    verb    text := CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END;
BEGIN
    -- Changes the service makes on its own (a workstation seen on acquire)
    -- run without an actor and are not admin changes.
    IF actor IS NULL OR actor = '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN old_doc := to_jsonb(OLD) - 'key_hash'; END IF;
    IF TG_OP <> 'DELETE' THEN new_doc := to_jsonb(NEW) - 'key_hash'; END IF;
    doc := coalesce(new_doc, old_doc);
    IF TG_OP = 'UPDATE' AND (old_doc ->> 'status' IS DISTINCT FROM 'deleted') AND new_doc ->> 'status' = 'deleted' THEN
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

CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON tenants      FOR EACH ROW EXECUTE FUNCTION audit_change('tenant');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON licenses     FOR EACH ROW EXECUTE FUNCTION audit_change('license');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON api_keys     FOR EACH ROW EXECUTE FUNCTION audit_change('api_key');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON workstations FOR EACH ROW EXECUTE FUNCTION audit_change('workstation');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON repositories FOR EACH ROW EXECUTE FUNCTION audit_change('repository');

-- Row-level security. The service runs each transaction as license_app with
-- app.tenant_id (one tenant) or app.platform = 'on' (a platform admin, or a
-- lookup that must cross tenants such as resolving a credential). A query
-- that forgets its tenant filter still sees only its tenant's rows.
DO $$ BEGIN
    CREATE ROLE license_app NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
GRANT license_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO license_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, licenses, api_keys, workstations, repositories TO license_app;
GRANT SELECT, INSERT ON audit_log TO license_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO license_app;

CREATE FUNCTION app_may_see(tenant uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT current_setting('app.platform', true) = 'on'
        OR tenant = nullif(current_setting('app.tenant_id', true), '')::uuid
$$;

ALTER TABLE tenants      ENABLE ROW LEVEL SECURITY;
ALTER TABLE licenses     ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys     ENABLE ROW LEVEL SECURITY;
ALTER TABLE workstations ENABLE ROW LEVEL SECURITY;
ALTER TABLE repositories ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log    ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants      USING (app_may_see(id))        WITH CHECK (app_may_see(id));
CREATE POLICY tenant_isolation ON licenses     USING (app_may_see(tenant_id)) WITH CHECK (app_may_see(tenant_id));
CREATE POLICY tenant_isolation ON api_keys     USING (app_may_see(tenant_id)) WITH CHECK (app_may_see(tenant_id));
CREATE POLICY tenant_isolation ON workstations USING (app_may_see(tenant_id)) WITH CHECK (app_may_see(tenant_id));
CREATE POLICY tenant_isolation ON repositories USING (app_may_see(tenant_id)) WITH CHECK (app_may_see(tenant_id));
CREATE POLICY tenant_isolation ON audit_log    USING (app_may_see(tenant_id)) WITH CHECK (app_may_see(tenant_id));
