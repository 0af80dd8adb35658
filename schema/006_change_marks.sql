-- Reconciliation (shared/licensing Reconcile, run by every cleanup): a
-- change committed in PostgreSQL whose write-through to Redis failed (Redis
-- down just after the commit, and nobody retried) must still reach Redis, so
-- a suspended license or tenant cannot stay active there. Each run writes
-- through every license changed since the previous complete run; to find
-- them, each row notes the transaction that last changed it.
--
-- Why a transaction id and not updated_at: updated_at is now(), the time a
-- transaction started, and a transaction may commit after another that
-- started later. A run that kept "the latest updated_at I saw" as its mark
-- could pass over a change still uncommitted when it read, stamped earlier
-- than that mark. A run keeps instead the oldest transaction still running
-- when it read (pg_snapshot_xmin of its snapshot): every transaction below
-- it had ended, so its changes were visible to that read; every transaction
-- from it on is found by the next run, in whatever order they commit.
--
-- changed_xid: the transaction that last inserted or updated the row; for a
-- workstation, the one that last blocked or unblocked it (the only change to
-- a workstation Redis holds). '0' on rows older than this migration: a run
-- with no mark (the first) writes every license through anyway.

ALTER TABLE tenants      ADD COLUMN changed_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE licenses     ADD COLUMN changed_xid xid8 NOT NULL DEFAULT '0';
ALTER TABLE workstations ADD COLUMN changed_xid xid8 NOT NULL DEFAULT '0';

-- A trigger, like the audit log's, so no code path can forget it.
CREATE FUNCTION note_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id();
    RETURN NEW;
END $$;

CREATE TRIGGER note_change BEFORE INSERT OR UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION note_change();
CREATE TRIGGER note_change BEFORE INSERT OR UPDATE ON licenses
    FOR EACH ROW EXECUTE FUNCTION note_change();
-- Workstations are written on every acquire from a new one and on every
-- sighting; only a change of blocked is noted, so those writes call nothing.
CREATE TRIGGER note_change BEFORE UPDATE OF blocked ON workstations
    FOR EACH ROW WHEN (OLD.blocked IS DISTINCT FROM NEW.blocked) EXECUTE FUNCTION note_change();
CREATE TRIGGER note_blocked_insert BEFORE INSERT ON workstations
    FOR EACH ROW WHEN (NEW.blocked) EXECUTE FUNCTION note_change();

CREATE INDEX licenses_changed ON licenses (changed_xid);
CREATE INDEX tenants_changed ON tenants (changed_xid);
-- Partial: a workstation never blocked (nearly all) costs no index entry.
CREATE INDEX workstations_changed ON workstations (changed_xid) WHERE changed_xid <> '0';
