-- List live sessions, soonest expiry first.
-- KEYS: 1 live, 2 info
-- ARGV: 1 maximum number of sessions
-- Returns a flat list: now (ms, Redis clock: a shared seat's lapsed holders
-- are the ones whose expiry has passed), then session digest, expiry_ms,
-- info json, ...
local live, info = KEYS[1], KEYS[2]
local now = now_ms()
local rows = redis.call('ZRANGEBYSCORE', live, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {tostring(now)}
for i = 1, #rows, 2 do
  out[#out + 1] = rows[i]
  out[#out + 1] = rows[i + 1]
  out[#out + 1] = redis.call('HGET', info, rows[i]) or '{}'
end
return out
