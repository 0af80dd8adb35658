-- Write license metadata through from PostgreSQL, and end the live
-- sessions of every workstation it newly blocks (in the same step, so a
-- block is in effect for the seats it held the moment it is written).
-- KEYS: 1 meta, 2 blocked, 3 unknown (the mark that PostgreSQL did not know
--       the license, which a license now written through ends), 4 live,
--       5 info, 6 users, 7 events, 8 ended, 9 ov (the overage sessions,
--       see common.lua), 10 rb (the revoked borrows: a newly blocked
--       workstation's borrowed session keeps counting until its end, see
--       revoke_session)
-- ARGV: 1 revision, 2 the actor the ends are recorded with ('' the
--       service), 3 number of field/value arguments that follow (2n),
--       4 .. 2n+3 field/value pairs, then the blocked fingerprints
-- Returns {written (1, or 0 when Redis already holds a newer revision: two
-- admin writers finishing out of order must not roll the license back),
-- sessions ended}.
local meta, blocked, live, info = KEYS[1], KEYS[2], KEYS[4], KEYS[5]
local k = {live = KEYS[4], info = KEYS[5], users = KEYS[6], events = KEYS[7], ended = KEYS[8], ov = KEYS[9], meta = KEYS[1], rb = KEYS[10]}
local rev, actor = tonumber(ARGV[1]), ARGV[2]
local current = tonumber(redis.call('HGET', meta, 'rev') or '0')
if current > rev then return {0, 0} end
local n = tonumber(ARGV[3])
local first = n + 4
-- The fingerprints blocked before this write: only the newly blocked ones
-- can still hold sessions (acquire refuses a blocked one, and heartbeat
-- ends one it finds blocked).
local was = {}
for _, fp in ipairs(redis.call('SMEMBERS', blocked)) do was[fp] = true end
-- nb lets acquire and heartbeat skip the blocked set when there is none.
redis.call('HSET', meta, 'rev', ARGV[1], 'nb', #ARGV - first + 1, unpack(ARGV, 4, n + 3))
redis.call('DEL', blocked, KEYS[3])
if #ARGV >= first then
  redis.call('SADD', blocked, unpack(ARGV, first))
end

-- Overage (see common.lua). oc tells heartbeat and resume whether to read
-- ov: while the policy allows overage, or sessions granted under it are
-- still there (turning the policy off ends nobody's session or class).
local mo = redis.call('HMGET', meta, 'seats', 'oa')
local seats = tonumber(mo[1] or '0') or 0
local held = redis.call('ZCARD', k.ov)
local oc = 0
if held > 0 or (tonumber(mo[2] or '') or seats) ~= seats then oc = 1 end
redis.call('HSET', meta, 'oc', oc)
if held > 0 then
  -- Seats raised: the oldest overage sessions become entitled while an
  -- entitled seat is free. Seats lowered: nobody is demoted (the entitled
  -- stay so until they leave; new grants are classed by the new seats).
  promote_free(k, seats, now_ms(), math.huge)
end

local fresh, any = {}, false
for i = first, #ARGV do
  if not was[ARGV[i]] then fresh[ARGV[i]] = true; any = true end
end
if not any then return {1, 0} end
local now = now_ms()
local ended = 0
local function end_if_fresh(token, expiry)
  local ok, doc = pcall(cjson.decode, redis.call('HGET', info, token) or '')
  if ok and type(doc) == 'table' and doc.fp and fresh[doc.fp] then
    ended = ended + revoke_session(k, token, expiry, 'b', 'blocked', actor, now)
  end
end
if redis.call('HGET', meta, 'pu') == '1' then
  -- Per-user leasing keys sessions by person, so the workstation's are
  -- found by reading every live one (a block is rare; this runs only when
  -- the write blocks a workstation it did not before).
  local rows = redis.call('ZRANGEBYSCORE', live, '(' .. now, '+inf', 'WITHSCORES')
  for i = 1, #rows, 2 do end_if_fresh(rows[i], tonumber(rows[i + 1])) end
else
  for i = first, #ARGV do
    local fp = ARGV[i]
    local token = redis.call('HGET', info, '\0' .. fp)
    if fresh[fp] and token then
      local score = redis.call('ZSCORE', live, token)
      if score and tonumber(score) > now then end_if_fresh(token, tonumber(score)) end
    end
  end
end
return {1, ended}
