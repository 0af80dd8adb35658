-- Release a lock only if this holder still owns it (a holder that outlived
-- its TTL must not release the next holder's lock).
-- KEYS: 1 lock
-- ARGV: 1 the holder's token
-- Returns 1 when released.
local lock = KEYS[1]
if redis.call('GET', lock) == ARGV[1] then return redis.call('DEL', lock) end
return 0
