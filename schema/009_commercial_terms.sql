-- Commercial terms are the platform's (issue 17): a tenant's admins choose
-- how long a lease lasts, but only within a ceiling the platform sets per
-- license. max_lease_ttl_seconds is that ceiling; the platform alone
-- changes it (functions/licenses enforces who may write it).
--
-- Existing licenses get the widest ceiling (a day, the limit lease TTLs
-- already had), so no license's behaviour changes with this migration.
ALTER TABLE licenses ADD COLUMN max_lease_ttl_seconds integer NOT NULL DEFAULT 86400
    CHECK (max_lease_ttl_seconds BETWEEN 1 AND 86400);

-- The ceiling holds in the database too, so no write path (a racing PATCH
-- lowering the ceiling while another raises the TTL) can leave a license
-- over it: each UPDATE checks the row it writes. The licenses function
-- maps a violation of this constraint to 400 invalid_request.
ALTER TABLE licenses ADD CONSTRAINT licenses_lease_ttl_within_max
    CHECK (lease_ttl_seconds <= max_lease_ttl_seconds);
