-- People. A membership ties an e-mail address to a tenant with a role
-- (admin or member); a membership with no tenant is the platform's, and its
-- admin role makes a platform admin. It is created pending (issuer and
-- subject NULL) by an invitation, and bound to the identity provider's
-- issuer and subject by the first sign-in whose verified e-mail matches;
-- from then on the subject, not the e-mail, identifies the person, so an
-- e-mail changed at the provider cannot take over another's membership.
-- Removal is soft (deleted_at), like every deletion here.
CREATE TABLE memberships (
    id          uuid PRIMARY KEY DEFAULT uuid_v7(),
    -- NULL: the platform's own membership (a platform admin).
    tenant_id   uuid REFERENCES tenants (id),
    -- Lower-cased by the store, and checked here too: e-mail matching is
    -- by equality, and a mixed-case row would never match a sign-in.
    email       text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 320 AND position('@' IN email) > 1),
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    kind        text NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'service_account')),
    issuer      text,
    subject     text,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    bound_at    timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CHECK ((issuer IS NULL) = (subject IS NULL) AND (issuer IS NULL) = (bound_at IS NULL))
);
-- One live membership per e-mail and tenant (the platform counted as one
-- tenant: NULL would otherwise never collide with itself).
CREATE UNIQUE INDEX memberships_live_email ON memberships
    (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), email) WHERE deleted_at IS NULL;
-- One live membership per person and tenant.
CREATE UNIQUE INDEX memberships_live_subject ON memberships
    (coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), issuer, subject)
    WHERE deleted_at IS NULL AND subject IS NOT NULL;
-- Sign-in looks a person up by subject, and an invitation by e-mail.
CREATE INDEX memberships_subject ON memberships (issuer, subject) WHERE deleted_at IS NULL;
CREATE INDEX memberships_email ON memberships (email) WHERE deleted_at IS NULL;
-- Listing a tenant's members in the order every list uses.
CREATE INDEX memberships_tenant ON memberships (tenant_id, created_at, id);

-- Row-level security as every tenant table (005). Platform rows have no
-- tenant, so only the platform scope sees them.
ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
    WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()));

-- Audited as every admin change ('member.create', 'member.update', and
-- 'member.delete' when deleted_at is set: audit_change names that verb).
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON memberships FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('member');

-- Sign-in. Any function that authenticates a caller may see an ID token,
-- and so must find the person's memberships and bind a pending one: the
-- Seats (acquire's require_user), Admin and Reader roles. Rather than grant
-- those roles SELECT on every membership and UPDATE of the binding columns
-- of any of them (which would let SQL run as license_seats rebind any
-- person), they call this function, which can do exactly one thing: bind
-- the live, unbound memberships of a verified e-mail to a subject, and
-- return the live memberships bound to that subject. A membership bound to
-- another subject is never matched by e-mail.
--
-- p_platform: the token may claim the platform's memberships; p_tenant:
-- NULL, it may claim any tenant's, else only that tenant's (a customer's
-- Identity Platform tenant, whose admins can mint any verified e-mail, can
-- claim only its own tenant's memberships). Runs as the owner, under the
-- caller's scope (the policies are forced on the owner too): the caller
-- enters the platform scope.
CREATE FUNCTION member_sign_in(p_issuer text, p_subject text, p_email text, p_email_verified boolean,
                               p_platform boolean, p_tenant uuid)
RETURNS TABLE (id uuid, tenant_id uuid, email text, role text, kind text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    IF coalesce(p_issuer, '') = '' OR coalesce(p_subject, '') = '' THEN
        RETURN;
    END IF;
    IF p_email_verified AND coalesce(p_email, '') <> '' THEN
        UPDATE memberships m SET issuer = p_issuer, subject = p_subject, bound_at = now(), updated_at = now()
        WHERE m.email = lower(p_email) AND m.deleted_at IS NULL AND m.subject IS NULL
          AND ((m.tenant_id IS NULL AND p_platform) OR (m.tenant_id IS NOT NULL AND (p_tenant IS NULL OR m.tenant_id = p_tenant)))
          -- A person already bound in that tenant under another e-mail
          -- keeps that membership; this one stays pending.
          AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.deleted_at IS NULL AND o.issuer = p_issuer
                          AND o.subject = p_subject AND o.tenant_id IS NOT DISTINCT FROM m.tenant_id);
    END IF;
    RETURN QUERY
        SELECT m.id, m.tenant_id, m.email, m.role, m.kind FROM memberships m
        WHERE m.issuer = p_issuer AND m.subject = p_subject AND m.deleted_at IS NULL
          AND ((m.tenant_id IS NULL AND p_platform) OR (m.tenant_id IS NOT NULL AND (p_tenant IS NULL OR m.tenant_id = p_tenant)))
          -- A deleted tenant's people are no longer its members.
          AND (m.tenant_id IS NULL OR EXISTS (SELECT 1 FROM tenants t WHERE t.id = m.tenant_id AND t.status <> 'deleted'))
        ORDER BY m.tenant_id NULLS FIRST;
END $$;
REVOKE ALL ON FUNCTION member_sign_in(text, text, text, boolean, boolean, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION member_sign_in(text, text, text, boolean, boolean, uuid)
    TO license_seats, license_admin, license_reader;

-- Whether a platform admin has signed in (a bound, live platform
-- membership): from then on the bootstrap token is refused unless
-- configured otherwise. Every role that accepts the bootstrap token asks.
CREATE FUNCTION platform_admin_bound() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT EXISTS (SELECT 1 FROM memberships WHERE tenant_id IS NULL AND role = 'admin'
                   AND subject IS NOT NULL AND deleted_at IS NULL)
$$;
REVOKE ALL ON FUNCTION platform_admin_bound() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_admin_bound() TO license_seats, license_admin, license_reader;

-- Admin manages memberships (the Members function). No DELETE: removal is
-- an UPDATE of deleted_at.
-- (uuid_v7 is the default of memberships.id.)
GRANT SELECT, INSERT, UPDATE ON memberships TO license_admin;
GRANT EXECUTE ON FUNCTION uuid_v7() TO license_admin;
