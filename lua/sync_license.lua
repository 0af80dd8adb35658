-- Write license metadata through from PostgreSQL.
-- KEYS: 1 meta, 2 blocked, 3 unknown (the mark that PostgreSQL did not know
--       the license, which a license now written through ends)
-- ARGV: 1 revision, 2 number of field/value arguments that follow (2n),
--       3 .. 2n+2 field/value pairs, then the blocked fingerprints
-- Returns 1 when written, 0 when Redis already holds a newer revision (two
-- admin writers finishing out of order must not roll the license back).
local meta, blocked = KEYS[1], KEYS[2]
local rev = tonumber(ARGV[1])
local current = tonumber(redis.call('HGET', meta, 'rev') or '0')
if current > rev then return 0 end
local n = tonumber(ARGV[2])
-- nb lets acquire skip the blocked set when there is none.
redis.call('HSET', meta, 'rev', ARGV[1], 'nb', #ARGV - n - 2, unpack(ARGV, 3, n + 2))
redis.call('DEL', blocked, KEYS[3])
if #ARGV > n + 2 then
  redis.call('SADD', blocked, unpack(ARGV, n + 3))
end
return 1
