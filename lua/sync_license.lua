-- Write license metadata through from PostgreSQL.
-- KEYS: 1 meta
-- ARGV: 1 revision, then field/value pairs
-- Returns 1 when written, 0 when Redis already holds a newer revision (two
-- admin writers finishing out of order must not roll the license back).
local meta = KEYS[1]
local rev = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', meta, 'rev') or '0')
if current > rev then return 0 end
redis.call('HSET', meta, 'rev', ARGV[1], unpack(ARGV, 2))
return 1
