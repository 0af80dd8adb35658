-- Extend a lock's TTL only if this holder still owns it, so a run that
-- holds the lock keeps it with a short TTL, and a holder that died (a
-- crash, a Redis restart that kept the key) blocks the next run for at
-- most that TTL.
-- KEYS: 1 lock
-- ARGV: 1 the holder's token, 2 the new TTL in milliseconds
-- Returns 1 when extended.
local lock = KEYS[1]
if redis.call('GET', lock) == ARGV[1] then return redis.call('PEXPIRE', lock, ARGV[2]) end
return 0
