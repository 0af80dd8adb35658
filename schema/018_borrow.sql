-- Borrow (offline checkout): a live session turned borrowed holds its seat
-- with no heartbeat until the borrow's end, or until its device returns it.
--
-- Numbered 018, not the unused 016: Migrate applies a missing version even
-- below the highest applied one, so on a database that has 017 a 016 would
-- run after it while a new database runs it before; 018 runs after 017
-- everywhere. 017 already allows the ledger's kinds and end kind and lists
-- the borrow column among the fields whose change is license.updated.
--
-- licenses.borrow: the policy, NULL when the license does not borrow.
-- functions/licenses writes it whole, as
--   {"max_seconds": 3600..7776000, "max_concurrent": 0 (all seats) or more,
--    "min_online_seats": 0 or more}
-- and the check keeps any other writer to that shape. The seat scripts
-- enforce it from what is written through to Redis (meta bms, bmc, bmo).
ALTER TABLE licenses ADD COLUMN borrow jsonb CHECK (borrow IS NULL OR CASE
    WHEN jsonb_typeof(borrow) <> 'object' THEN false
    WHEN NOT borrow ?& ARRAY['max_seconds', 'max_concurrent', 'min_online_seats'] THEN false
    WHEN borrow - ARRAY['max_seconds', 'max_concurrent', 'min_online_seats'] <> '{}'::jsonb THEN false
    WHEN jsonb_typeof(borrow -> 'max_seconds') <> 'number' OR jsonb_typeof(borrow -> 'max_concurrent') <> 'number'
         OR jsonb_typeof(borrow -> 'min_online_seats') <> 'number' THEN false
    ELSE (borrow ->> 'max_seconds')::numeric BETWEEN 3600 AND 7776000
         AND (borrow ->> 'max_concurrent')::numeric BETWEEN 0 AND 2147483647
         AND (borrow ->> 'min_online_seats')::numeric BETWEEN 0 AND 2147483647
         AND scale((borrow ->> 'max_seconds')::numeric) = 0
         AND scale((borrow ->> 'max_concurrent')::numeric) = 0
         AND scale((borrow ->> 'min_online_seats')::numeric) = 0
    END);

-- The ledger: borrowed and borrow_extended carry the borrow's end (the seat
-- counts until then, when the sweep records it expired, unless a returned
-- event ends it first). They leave the session's interval open, so the
-- report's seat-hours count the borrowed time like any held time.
ALTER TABLE usage_events ADD COLUMN borrowed_until timestamptz,
    ADD CHECK ((kind IN ('borrowed', 'borrow_extended')) = (borrowed_until IS NOT NULL));
