-- Tenants (the software vendors' customers) and their floating licenses.
-- Live seats are not here: they are counted in Redis. PostgreSQL is the system
-- of record for what a license allows; Redis holds a write-through copy.

CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    status      text NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'suspended', 'deleted')),
    -- Bumped on every change. A license's copy in Redis carries
    -- licenses.revision + tenants.revision, which grows whenever either does.
    revision    bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz,
    CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);

-- A slug names one live tenant; a deleted tenant's slug may be reused.
CREATE UNIQUE INDEX tenants_slug_live ON tenants (slug) WHERE deleted_at IS NULL;
CREATE INDEX tenants_created ON tenants (created_at, id);

CREATE TABLE licenses (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    product            text NOT NULL CHECK (length(product) BETWEEN 1 AND 100),
    seats              integer NOT NULL CHECK (seats BETWEEN 1 AND 100000),
    lease_ttl_seconds  integer NOT NULL DEFAULT 300 CHECK (lease_ttl_seconds BETWEEN 1 AND 86400),
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'suspended', 'deleted')),
    expires_at         timestamptz,
    -- SHA-256 (hex) of the license key; the key itself is shown once and never stored.
    key_hash           text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_prefix         text NOT NULL,
    -- Bumped on every change, so Redis keeps the newest of racing write-throughs.
    revision           bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    deleted_at         timestamptz,
    CHECK ((status = 'deleted') = (deleted_at IS NOT NULL))
);

CREATE INDEX licenses_tenant ON licenses (tenant_id, created_at, id);
