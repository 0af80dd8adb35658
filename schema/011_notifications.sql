-- Notifications, second slice (issue 19): where the outbox's events go.
--
-- The Notify function reads pending outbox events (010) and fans each out,
-- in one transaction, into the deliveries it causes: one per subscribed
-- webhook (webhook_deliveries) and one per e-mail recipient
-- (email_messages); then it marks the event delivered (delivered_at, in
-- 010's words, means "handed on"). Each delivery is then attempted on its
-- own schedule, with its own retries, so a slow endpoint delays nobody
-- else's and nothing is lost between the two steps: the fan-out commits
-- the deliveries and the mark together, or neither.
--
-- Notify connects as license_cleanup, the background role that already
-- runs the schedule; the secrets that make a webhook signature or a mail
-- (the sealing key of the signing secrets, the SendGrid key) are given to
-- the Notify and Notifications deployments only, so the rows this role
-- reads are ciphertext to anyone else.

-- Ordering: an event's place in its license's sequence. created_at is the
-- transaction's start, shared by every event of a transaction, so a
-- per-row counter says which came first.
ALTER TABLE outbox_events ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;

-- Events the service derives (the ledger drain's seat events, the
-- schedule's expiry and summaries) are appended through this function, by
-- the background role only, always with a dedupe key: a repeated run or a
-- replayed drain adds nothing. Admin changes' events cannot be forged
-- through it: the types it takes are the derived ones.
CREATE FUNCTION outbox_emit(p_tenant uuid, p_type text, p_payload jsonb, p_dedupe text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    n bigint;
BEGIN
    IF p_type NOT IN ('license.expiring', 'license.expired', 'seats.exhausted', 'seats.utilization_high',
                      'seats.utilization_normal', 'usage.weekly_summary') THEN
        RAISE EXCEPTION 'outbox_emit: % is not a derived event type', p_type USING ERRCODE = '42501';
    END IF;
    IF p_dedupe IS NULL OR p_dedupe = '' THEN
        RAISE EXCEPTION 'outbox_emit: a derived event needs a dedupe key' USING ERRCODE = '22023';
    END IF;
    INSERT INTO outbox_events (tenant_id, type, payload, dedupe_key)
    VALUES (p_tenant, p_type, p_payload || jsonb_build_object('actor', NULL), p_dedupe)
    ON CONFLICT (dedupe_key) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n > 0;
END $$;
REVOKE ALL ON FUNCTION outbox_emit(uuid, text, jsonb, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_emit(uuid, text, jsonb, text) TO license_cleanup;

-- A tenant's webhook endpoints.
CREATE TABLE webhooks (
    id            uuid PRIMARY KEY DEFAULT uuid_v7(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    url           text NOT NULL CHECK (length(url) BETWEEN 8 AND 2048),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- The event types it wants; empty: every type.
    event_types   text[] NOT NULL DEFAULT '{}',
    enabled       boolean NOT NULL DEFAULT true,
    -- Why it is disabled when the service disabled it ('failing': three
    -- days of failed deliveries); NULL when an admin did, or it is enabled.
    disabled_reason text CHECK (disabled_reason IN ('failing')),
    -- The signing secret, sealed (AES-256-GCM under a key the database
    -- never sees, the webhook's id as additional data). During a rotation
    -- the previous one signs too, until previous_secret_expires_at.
    secret        bytea NOT NULL,
    previous_secret bytea,
    previous_secret_expires_at timestamptz,
    -- When the current run of failed deliveries began (NULL: the last
    -- attempt succeeded, or none failed yet).
    failing_since timestamptz,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id, created_at, id);

-- One event (or a test ping) on its way to one webhook. The body is kept
-- as sent, so every retry and a redelivery send the same bytes under the
-- same webhook-id (the event's id), which receivers dedupe on.
CREATE TABLE webhook_deliveries (
    id             uuid PRIMARY KEY DEFAULT uuid_v7(),
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    webhook_id     uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    -- The outbox event; NULL for a ping (its id is message_id).
    event_id       uuid REFERENCES outbox_events (id),
    message_id     text NOT NULL,
    event_type     text NOT NULL,
    body           jsonb NOT NULL,
    -- Deliveries of one webhook with the same ordering key go out in seq
    -- order: a later one waits while an earlier one is pending. The key
    -- is the license's id for events about a license; '' orders nothing.
    ordering_key   text NOT NULL DEFAULT '',
    seq            bigint NOT NULL,
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts       integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- A deliverer that took the delivery holds it until then; one that
    -- died is replaced when it passes (at least once, never lost).
    locked_until   timestamptz,
    last_status    integer,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, ordering_key, seq) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_list ON webhook_deliveries (tenant_id, webhook_id, created_at DESC, id DESC);

-- Every attempt of a delivery: the delivery log.
CREATE TABLE webhook_attempts (
    id            uuid PRIMARY KEY DEFAULT uuid_v7(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at  timestamptz NOT NULL,
    status_code   integer,
    latency_ms    integer NOT NULL,
    -- What failed, when no response came ("" otherwise).
    error         text NOT NULL DEFAULT '',
    -- The response's first bytes (at most 1 KB).
    response      text NOT NULL DEFAULT '' CHECK (octet_length(response) <= 1024),
    outcome       text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed'))
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);

-- Per-tenant notification settings: the time zone of the weekly summary
-- and, per event type, who is e-mailed. No row: the defaults (UTC; the
-- default rules, which shared/notify holds).
CREATE TABLE notification_settings (
    tenant_id     uuid PRIMARY KEY REFERENCES tenants (id),
    time_zone     text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64),
    -- {"<event type>": {"email": bool, "admins": bool, "recipients": [e-mail, ...]}, ...}:
    -- only the types an admin changed; the rest keep their default.
    email_rules   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(email_rules) = 'object'),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Who followed an unsubscribe link, for which event type ('*': all the
-- non-essential ones).
CREATE TABLE email_unsubscribes (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    email         text NOT NULL CHECK (email = lower(email)),
    event_type    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, email, event_type)
);

-- One e-mail on its way: rendered when it is sent (from the event's
-- payload), so no message body, and no invitation link, rests here.
CREATE TABLE email_messages (
    id            uuid PRIMARY KEY DEFAULT uuid_v7(),
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    -- The event it tells of; NULL for the service's own notices (an
    -- endpoint disabled), which name themselves in notice_key.
    event_id      uuid REFERENCES outbox_events (id),
    notice_key    text,
    kind          text NOT NULL,
    recipient     text NOT NULL CHECK (recipient = lower(recipient) AND position('@' IN recipient) > 1),
    -- What the message needs beyond the event (the notice's details).
    data          jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    UNIQUE (event_id, recipient),
    UNIQUE (notice_key, recipient),
    CHECK ((event_id IS NULL) <> (notice_key IS NULL))
);
CREATE INDEX email_messages_due ON email_messages (next_attempt_at) WHERE status = 'pending';

-- Row-level security as every tenant table.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhooks', 'webhook_deliveries', 'webhook_attempts', 'notification_settings',
                             'email_unsubscribes', 'email_messages'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I
            USING (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))
            WITH CHECK (tenant_id = (SELECT app_scope_tenant()) OR (SELECT app_scope_platform()))', t);
        EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', t);
    END LOOP;
END $$;

-- Webhooks and settings are admin changes, audited as every other; the
-- sealed secrets never reach the audit log.
CREATE OR REPLACE FUNCTION audit_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    actor   text := app_scope_actor();
    old_doc jsonb;
    new_doc jsonb;
    doc     jsonb;
    verb    text := CASE TG_OP WHEN 'INSERT' THEN 'create' WHEN 'UPDATE' THEN 'update' ELSE 'delete' END;
BEGIN
    IF actor IS NULL THEN
        RETURN NULL;
    END IF;
    IF TG_OP <> 'INSERT' THEN old_doc := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN new_doc := to_jsonb(NEW); END IF;
    IF TG_OP = 'UPDATE' AND TG_ARGV[0] = 'license' AND old_doc ->> 'key_hash' IS DISTINCT FROM new_doc ->> 'key_hash' THEN
        verb := 'rotate_key';
    END IF;
    IF TG_OP = 'UPDATE' AND TG_ARGV[0] = 'webhook' AND old_doc ->> 'secret' IS DISTINCT FROM new_doc ->> 'secret' THEN
        verb := 'rotate_secret';
    END IF;
    old_doc := old_doc - 'key_hash' - 'previous_key_hash' - 'secret' - 'previous_secret';
    new_doc := new_doc - 'key_hash' - 'previous_key_hash' - 'secret' - 'previous_secret';
    doc := coalesce(new_doc, old_doc);
    IF verb IN ('rotate_key', 'rotate_secret') THEN
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
        actor, TG_ARGV[0] || '.' || verb, TG_ARGV[0],
        CASE WHEN TG_TABLE_NAME = 'notification_settings' THEN doc ->> 'tenant_id' ELSE doc ->> 'id' END,
        old_doc, new_doc);
    RETURN NULL;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON webhooks FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('webhook');
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON notification_settings FOR EACH ROW
    WHEN (app_scope_actor() IS NOT NULL) EXECUTE FUNCTION audit_change('notification_settings');

-- The admin role (the Notifications function) manages webhooks and
-- settings, reads the delivery log, and queues a ping or a redelivery; it
-- never changes an attempt. An unsubscribe link is followed without
-- sign-in, in the scope of the tenant the signed link names.
GRANT SELECT, INSERT, UPDATE, DELETE ON webhooks TO license_admin;
GRANT SELECT, INSERT ON webhook_deliveries TO license_admin;
GRANT UPDATE (status, next_attempt_at, locked_until, attempts, first_attempt_at, finished_at) ON webhook_deliveries TO license_admin;
GRANT SELECT ON webhook_attempts TO license_admin;
GRANT SELECT, INSERT, UPDATE ON notification_settings TO license_admin;
GRANT SELECT, INSERT ON email_unsubscribes TO license_admin;

-- The background role (Notify) fans events out and delivers: it reads the
-- endpoints (sealed secrets), settings and unsubscribes, and the admins'
-- addresses; writes deliveries, attempts and mails; and may change of a
-- webhook only what delivery decides (failing since, disabled as failing).
GRANT SELECT ON webhooks, notification_settings, email_unsubscribes TO license_cleanup;
GRANT UPDATE (failing_since, enabled, disabled_reason, updated_at) ON webhooks TO license_cleanup;
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries, email_messages TO license_cleanup;
GRANT SELECT, INSERT ON webhook_attempts TO license_cleanup;
GRANT SELECT ON memberships, tenants TO license_cleanup;
-- (uuid_v7 is the default of the delivery, attempt and mail ids it inserts.)
GRANT EXECUTE ON FUNCTION uuid_v7() TO license_cleanup;
