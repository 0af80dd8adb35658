-- Seat policies, second slice (issue 20): linger and revive. The ledger
-- learns three kinds of event, and a session may hold a seat more than
-- once.
--
--   linger_ended  a session released into its license's linger (a
--                 released event with reason 'linger') was not taken back:
--                 its seat stopped counting here, and it ends with this kind
--   reattached    the holder of a lingering session took it back: the seat
--                 counted all along, so its interval goes on
--   revived       a heartbeat took back a session that had expired (its
--                 expired event comes first) within the revive window: the
--                 seat was free in between, so a new interval starts
--
-- usage_sessions becomes one row per interval of a session holding a seat:
-- a revived session has two or more, which never overlap (at most one is
-- open), so every count and sum over the rows (reports, seats_in_use_at,
-- the weekly summary) counts the seat only while it was held.
ALTER TABLE usage_events DROP CONSTRAINT usage_events_kind_check;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_kind_check
    CHECK (kind IN ('acquired', 'released', 'expired', 'denied', 'revoked', 'linger_ended', 'reattached', 'revived'));

ALTER TABLE usage_sessions DROP CONSTRAINT usage_sessions_end_kind_check;
ALTER TABLE usage_sessions ADD CONSTRAINT usage_sessions_end_kind_check
    CHECK (end_kind IN ('released', 'expired', 'revoked', 'linger_ended'));

ALTER TABLE usage_sessions DROP CONSTRAINT usage_sessions_pkey;
ALTER TABLE usage_sessions ADD PRIMARY KEY (license_id, session_ref, started_at);
