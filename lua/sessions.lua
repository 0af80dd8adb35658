-- List live sessions, soonest expiry first.
-- KEYS: 1 live, 2 info, 3 ov (the overage sessions), 4 meta
-- ARGV: 1 maximum number of sessions
-- Returns a flat list: now (ms, Redis clock: a shared seat's lapsed holders
-- are the ones whose expiry has passed), then session digest, expiry_ms,
-- info json, class ('e' entitled, 'o' overage), ...
local live, info, ov = KEYS[1], KEYS[2], KEYS[3]
local now = now_ms()
-- ov is read only while the license may have overage sessions (oc, see
-- common.lua).
local overage = redis.call('HGET', KEYS[4], 'oc') == '1'
local rows = redis.call('ZRANGEBYSCORE', live, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {tostring(now)}
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', info, rows[i]) or '{}'
  local class = 'e'
  if overage and redis.call('ZSCORE', ov, rows[i]) then class = 'o' end
  out[#out + 1] = class
end
return out
