-- The license's revoked borrowed sessions whose borrow has not ended (see
-- Borrow in common.lua), for the signed revocation list. The key presented
-- opens the list as it opens acquire: the license's, or its previous one
-- within the grace of a rotation.
-- KEYS: 1 meta, 2 rb (the revoked borrows), 3 unknown (see acquire.lua)
-- ARGV: 1 key hash
-- Returns {'no_meta'}, {'not_found'} (wrong key, deleted, or unknown to
-- PostgreSQL) or {'ok', digest...} (in no particular order).
local meta, rb = KEYS[1], KEYS[2]
local key_hash = ARGV[1]
local m = redis.call('HMGET', meta, 'kh', 'status', 'tstatus', 'pkh', 'pkx')
if not m[1] then
  if redis.call('EXISTS', KEYS[3]) == 1 then return {'not_found'} end
  return {'no_meta'}
end
local now = now_ms()
if m[1] ~= key_hash then
  if m[4] ~= key_hash or now >= tonumber(m[5] or '0') then return {'not_found'} end
end
-- A suspended or expired license keeps its list: its borrowed seats still
-- run offline. A deleted one is gone, as acquire says.
if m[2] == 'deleted' or m[3] == 'deleted' then return {'not_found'} end
redis.call('ZREMRANGEBYSCORE', rb, '-inf', now)
local out = {'ok'}
for _, d in ipairs(redis.call('ZRANGEBYSCORE', rb, '(' .. now, '+inf')) do out[#out + 1] = d end
return out
