-- The usage ledger: every seat event exactly once, and the sessions derived
-- from them, from which usage reports are computed.
--
-- Events reach this table only from the Redis ledger streams (see
-- lua/common.lua record()). The stream entry id is unique per license, so
-- (license_id, stream_id) makes a re-drained entry a no-op.

CREATE TABLE usage_events (
    license_id   uuid NOT NULL REFERENCES licenses (id),
    stream_id    text NOT NULL CHECK (stream_id ~ '^[0-9]+-[0-9]+$'),
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    kind         text NOT NULL CHECK (kind IN ('acquired', 'released', 'expired', 'denied', 'revoked')),
    -- A digest of the session token (the token is a credential); '' for denials.
    session_ref  text NOT NULL,
    at           timestamptz NOT NULL,
    fingerprint  text NOT NULL DEFAULT '',
    user_name    text NOT NULL DEFAULT '',
    hostname     text NOT NULL DEFAULT '',
    repository   text NOT NULL DEFAULT '',
    reason       text NOT NULL DEFAULT '',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (license_id, stream_id)
);
CREATE INDEX usage_events_tenant_at ON usage_events (tenant_id, at);

-- One row per session: opened by its acquired event, closed by the event
-- that ended it (released, expired or revoked).
CREATE TABLE usage_sessions (
    license_id   uuid NOT NULL REFERENCES licenses (id),
    session_ref  text NOT NULL,
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    fingerprint  text NOT NULL DEFAULT '',
    user_name    text NOT NULL DEFAULT '',
    hostname     text NOT NULL DEFAULT '',
    repository   text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    end_kind     text CHECK (end_kind IN ('released', 'expired', 'revoked')),
    PRIMARY KEY (license_id, session_ref),
    CHECK ((ended_at IS NULL) = (end_kind IS NULL))
);
CREATE INDEX usage_sessions_tenant_started ON usage_sessions (tenant_id, started_at);

GRANT SELECT, INSERT ON usage_events TO license_app;
GRANT SELECT, INSERT, UPDATE ON usage_sessions TO license_app;
ALTER TABLE usage_events   ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_events   USING (app_may_see(tenant_id)) WITH CHECK (app_may_see(tenant_id));
CREATE POLICY tenant_isolation ON usage_sessions USING (app_may_see(tenant_id)) WITH CHECK (app_may_see(tenant_id));
