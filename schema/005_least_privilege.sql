-- Least privilege. Until now the service logged in as the tables' owner and
-- switched to license_app with set_config('role', ...), and the policies
-- trusted the plain settings app.tenant_id and app.platform, which any SQL
-- the service runs could change (or undo with RESET ROLE). From here on:
--
--   license_owner    NOLOGIN; owns every table, sequence, function and
--                    policy. Only migrations act as it (the migrating login,
--                    license_migrate in production, is a member).
--   license_seats    acquire, heartbeat, release
--   license_admin    tenants, licenses, apikeys, workstations, repositories
--   license_reader   audit, usage
--   license_cleanup  cleanup
--
-- The four function roles log in directly (they ARE the application role:
-- no SET ROLE), own nothing, cannot create roles and are members of no
-- role, so RESET ROLE changes nothing and SET ROLE license_owner is
-- refused. Their passwords are set by the migrate command
-- (DATABASE_PASSWORD_<CLASS>), never here.
--
-- Roles are cluster-wide: they may exist already (another database of the
-- same server, or an earlier run), so each is created when missing and its
-- attributes are then enforced.
DO $$
DECLARE
    r text;
    m record;
BEGIN
    BEGIN
        CREATE ROLE license_owner NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'license_owner' AND (rolcanlogin OR rolcreaterole OR rolcreatedb)) THEN
        ALTER ROLE license_owner NOLOGIN NOCREATEROLE NOCREATEDB;
    END IF;
    FOREACH r IN ARRAY ARRAY['license_seats', 'license_admin', 'license_reader', 'license_cleanup'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r
                   AND (NOT rolcanlogin OR rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls)) THEN
            EXECUTE format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS', r);
        END IF;
        -- A function role is a member of nothing (license_app of 002, or
        -- anything granted by hand, would lend it another role's rights).
        FOR m IN SELECT g.rolname FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid
                 JOIN pg_roles u ON u.oid = am.member WHERE u.rolname = r LOOP
            EXECUTE format('REVOKE %I FROM %I', m.rolname, r);
        END LOOP;
    END LOOP;
END $$;

-- The migrating login may act as the owner (shared/database.Migrate runs
-- every later migration under SET ROLE license_owner) and hand objects to
-- it. Granted to session_user: this migration runs under no SET ROLE.
GRANT license_owner TO SESSION_USER;
GRANT USAGE, CREATE ON SCHEMA public TO license_owner;
-- Nobody else may create objects next to ours (PostgreSQL 15 already
-- revokes this in new databases; older ones grant it to PUBLIC).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
-- The old application role keeps nothing. It is not dropped: roles are
-- cluster-wide, and another database on the server may still use it.
REVOKE ALL ON SCHEMA public FROM license_app;
GRANT USAGE ON SCHEMA public TO license_seats, license_admin, license_reader, license_cleanup;

-- Everything the earlier migrations made (as whichever login ran them)
-- now belongs to license_owner. schema_migrations stays the migrating
-- login's: it is the migrator's bookkeeping, and no function role may read
-- it. Indexes and owned sequences follow their tables.
DO $$
DECLARE
    o record;
BEGIN
    FOR o IN
        SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND c.relname <> 'schema_migrations' AND c.relowner <> 'license_owner'::regrole
          AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d
                   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
    LOOP
        IF o.relkind = 'S' THEN
            EXECUTE format('ALTER SEQUENCE %s OWNER TO license_owner', o.name);
        ELSE
            EXECUTE format('ALTER TABLE %s OWNER TO license_owner', o.name);
        END IF;
    END LOOP;
    FOR o IN
        SELECT p.oid::regprocedure AS name FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'license_owner'::regrole
          AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO license_owner', o.name);
    END LOOP;
END $$;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM license_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM license_app;

-- Objects made from here on belong to the owner too.
SET LOCAL ROLE license_owner;

-- The scope of a transaction: whose rows it may see, and who acts.
--
-- Plain settings (set_config) can be changed by any SQL the service runs,
-- so the policies no longer trust them. Instead the scope is a row of this
-- table, which only the owner may touch, keyed by the backend's pid and
-- stamped with the transaction's id. app_enter_scope (SECURITY DEFINER)
-- writes it once per transaction and refuses a second call, so SQL
-- injected later in the transaction cannot re-scope it; pgx sends each
-- statement on its own (extended protocol), so injected SQL cannot COMMIT
-- and begin a transaction of its own either. The policies read the row
-- through app_scope_tenant() and app_scope_platform(), which match it only
-- in the transaction that wrote it: no scope, or a stale one, shows no rows
-- (fail closed). Unlogged: a scope lives for one transaction, so it needs
-- no WAL and nothing of it need survive a crash.
--
-- Why a table and not a signed setting: a setting can be cleared, after
-- which nothing would remember that this transaction had a scope already.
CREATE UNLOGGED TABLE app_scope (
    pid        integer PRIMARY KEY,
    txid       xid8 NOT NULL,
    -- Not named tenant_id: this is no tenant's row, and every table with
    -- a tenant_id holds tenant rows under row-level security.
    tenant     uuid,
    platform   boolean NOT NULL,
    actor      text,
    CHECK (platform OR tenant IS NOT NULL)
);
REVOKE ALL ON app_scope FROM PUBLIC;

-- app_enter_scope sets the scope of the current transaction: one tenant, or
-- every tenant (platform), and the actor whose changes are audited (NULL or
-- '': the service acting on its own). A second call in the same
-- transaction is an error, which aborts the transaction.
CREATE FUNCTION app_enter_scope(tenant uuid, platform boolean, actor text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF NOT coalesce(platform, false) AND tenant IS NULL THEN
        RAISE EXCEPTION 'a scope names a tenant or the platform' USING ERRCODE = '22023';
    END IF;
    INSERT INTO app_scope AS s (pid, txid, tenant, platform, actor)
    VALUES (pg_backend_pid(), pg_current_xact_id(), tenant, coalesce(platform, false), nullif(actor, ''))
    ON CONFLICT (pid) DO UPDATE SET txid = excluded.txid, tenant = excluded.tenant,
        platform = excluded.platform, actor = excluded.actor
        WHERE s.txid <> excluded.txid;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the transaction has a scope already' USING ERRCODE = '42501';
    END IF;
END $$;

-- The readers. The policies call them in scalar subqueries, so each runs
-- once per statement (an InitPlan) and tenant_id = (SELECT
-- app_scope_tenant()) can still be an index condition. A transaction that
-- never wrote its scope has no xid, or another one, so matches nothing.
CREATE FUNCTION app_scope_tenant() RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT tenant FROM app_scope WHERE pid = pg_backend_pid() AND txid = pg_current_xact_id_if_assigned()
$$;
CREATE FUNCTION app_scope_platform() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT coalesce((SELECT platform FROM app_scope WHERE pid = pg_backend_pid() AND txid = pg_current_xact_id_if_assigned()), false)
$$;
CREATE FUNCTION app_scope_actor() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT actor FROM app_scope WHERE pid = pg_backend_pid() AND txid = pg_current_xact_id_if_assigned()
$$;

-- The audit trigger takes its actor from the scope too, and writes the
-- audit log as the owner: the function roles cannot INSERT into it
-- themselves, so they can neither forge an entry nor skip one.
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

-- The triggers' WHEN read the forgeable app.actor setting; now the
-- scope's actor. (A WHEN cannot hold a subquery, so app_scope_actor() runs
-- once per changed row.)
DROP TRIGGER audit ON tenants;
DROP TRIGGER audit ON licenses;
DROP TRIGGER audit ON api_keys;
DROP TRIGGER audit ON workstations;
DROP TRIGGER audit ON repositories;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON tenants FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('tenant');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON licenses FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('license');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON api_keys FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('api_key');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON workstations FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('workstation');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON repositories FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('repository');

-- The policies now trust only the scope, and FORCE applies them to the
-- owner as well: a migration that must see every row enters the platform
-- scope first (SELECT app_enter_scope(NULL, true, NULL)), as the service
-- does.
DROP POLICY tenant_isolation ON tenants;
DROP POLICY tenant_isolation ON licenses;
DROP POLICY tenant_isolation ON api_keys;
DROP POLICY tenant_isolation ON workstations;
DROP POLICY tenant_isolation ON repositories;
DROP POLICY tenant_isolation ON audit_log;
DROP POLICY tenant_isolation ON usage_events;
DROP POLICY tenant_isolation ON usage_sessions;
DROP FUNCTION app_may_see(uuid);
CREATE POLICY tenant_isolation ON tenants
    USING (id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
CREATE POLICY tenant_isolation ON licenses
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
CREATE POLICY tenant_isolation ON workstations
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
CREATE POLICY tenant_isolation ON repositories
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
CREATE POLICY tenant_isolation ON usage_events
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
CREATE POLICY tenant_isolation ON usage_sessions
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));
ALTER TABLE tenants        FORCE ROW LEVEL SECURITY;
ALTER TABLE licenses       FORCE ROW LEVEL SECURITY;
ALTER TABLE api_keys       FORCE ROW LEVEL SECURITY;
ALTER TABLE workstations   FORCE ROW LEVEL SECURITY;
ALTER TABLE repositories   FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_log      FORCE ROW LEVEL SECURITY;
ALTER TABLE usage_events   FORCE ROW LEVEL SECURITY;
ALTER TABLE usage_sessions FORCE ROW LEVEL SECURITY;

-- What each function role may do: exactly what its functions' queries
-- need (the end-to-end tests run every function as its own role).
-- Functions are executable by PUBLIC by default; ours only by the roles
-- named here. (Triggers and policies call them as their own.)
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_enter_scope(uuid, boolean, text), app_scope_tenant(), app_scope_platform(), app_scope_actor()
    TO license_seats, license_admin, license_reader, license_cleanup;

-- Seats: load a license (with its tenant and blocked workstations) on a
-- cache miss, resolve the user credential an acquire may carry (API keys,
-- tenants), and record workstations seen on acquire (uuid_v7 is the
-- default of workstations.id). It may not block or unblock a workstation,
-- nor change a license.
GRANT SELECT ON tenants, licenses, api_keys TO license_seats;
GRANT SELECT, INSERT (tenant_id, fingerprint, hostname, os, last_user, first_seen_at, last_seen_at),
    UPDATE (hostname, os, last_user, last_seen_at) ON workstations TO license_seats;
GRANT EXECUTE ON FUNCTION uuid_v7() TO license_seats;

-- Admin: the admin API. Deletions are soft (UPDATE), so no DELETE.
GRANT SELECT, INSERT, UPDATE ON tenants, licenses, api_keys, repositories TO license_admin;
GRANT SELECT, UPDATE (blocked) ON workstations TO license_admin;

-- Reader: the audit log and usage reports, and resolving the caller's
-- credential (API keys, tenants).
GRANT SELECT ON tenants, api_keys, licenses, audit_log, usage_events, usage_sessions TO license_reader;

-- Cleanup: drains the ledger into usage_events and usage_sessions, and
-- loads licenses (as the seat engine does) for the sweep.
GRANT SELECT ON tenants, licenses, workstations TO license_cleanup;
GRANT SELECT, INSERT ON usage_events TO license_cleanup;
GRANT SELECT, INSERT, UPDATE ON usage_sessions TO license_cleanup;
