-- The drain closes a session's open interval by (license_id, session_ref):
-- this index finds exactly that row, whatever the license's number of open
-- sessions. usage_sessions_open (license_id) only narrowed it to the
-- license, and a plan built on it read every open session of the license
-- for each batch (see BENCHMARKS.md, "The ledger drain under skew"). The
-- new index also serves everything the old one did (its first column is
-- license_id, over the same rows), so the old one goes: one index less to
-- write on every acquire and release drained.
CREATE INDEX usage_sessions_open_ref ON usage_sessions (license_id, session_ref) WHERE ended_at IS NULL;
DROP INDEX usage_sessions_open;
