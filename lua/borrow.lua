-- Turn a live session into a borrowed one (offline checkout), or extend its
-- borrow (see Borrow in common.lua), atomically with the policy's limits.
-- KEYS: 1 meta, 2 live, 3 info, 4 events, 5 bw (the borrowed sessions),
--       6 rb (the revoked borrows), 7 ov (the overage sessions: the reply
--       names the class)
-- ARGV: 1 session digest, 2 the end asked (ms, whole seconds), 3 the
--       device key (stored and compared verbatim), 4 seconds from now (when
--       not 0, the end asked is now plus these, truncated to whole seconds,
--       by this clock, and ARGV 2 is ignored)
-- Returns one of:
--   {'no_meta'}                        metadata not in Redis: load and retry
--   {'not_found'}                      no live session (or it lingers)
--   {'inactive'}                       the license is not usable now
--   {'not_allowed'}                    the license's policy does not borrow
--   {'revoked'}                        an admin revoked this borrowed session
--   {'bad_end'}                        the end asked is not after now
--   {'too_long', max_seconds}          the end asked is past now + max_seconds
--   {'other_device'}                   borrowed under another device key
--   {'borrow_limit', borrowed, max_concurrent, min_online, seats}
--   {'borrowed'|'extended', end_ms, tenant, fingerprint, class}
-- A session already borrowed under this device key is extended: its end
-- only moves forward (an earlier end asked leaves it, and records nothing).
-- A new borrow counts against max_concurrent (0: the seats) and leaves at
-- least min_online of the seats unborrowed; revoked borrows still count.
-- A shared seat's holders end with the borrow: the device holds it alone.
-- Under per-user leasing the borrowed session is the person's, so none of
-- the person's workstations can resume it meanwhile.
local meta, live, info, bw, rb, ov = KEYS[1], KEYS[2], KEYS[3], KEYS[5], KEYS[6], KEYS[7]
local k = {live = KEYS[2], info = KEYS[3], events = KEYS[4], ov = KEYS[7], meta = KEYS[1]}
local token, asked, device, seconds = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4] or '0') or 0

local m = redis.call('HMGET', meta, 'status', 'tstatus', 'exp', 'bms', 'bmc', 'bmo', 'seats', 'tenant', 'oc')
if not m[1] then return {'no_meta'} end
local now = now_ms()
if seconds > 0 then asked = math.floor((now + seconds * 1000) / 1000) * 1000 end
local score = redis.call('ZSCORE', live, token)
if not score or tonumber(score) <= now then return {'not_found'} end
local ok, doc = pcall(cjson.decode, redis.call('HGET', info, token) or '')
if not ok or type(doc) ~= 'table' or doc.lg then return {'not_found'} end
local exp = tonumber(m[3] or '0') or 0
if license_state(m[1], m[2], exp, now) ~= 'active' then return {'inactive'} end
local max_s = tonumber(m[4] or '0') or 0
if max_s <= 0 then return {'not_allowed'} end
if asked <= now then return {'bad_end'} end
if asked > now + max_s * 1000 then return {'too_long', max_s} end
-- A borrow never outlives its license.
if exp > 0 and asked > exp then asked = exp end

local class = 'e'
if m[9] == '1' and redis.call('ZSCORE', ov, token) then class = 'o' end
local fp = doc.fp or ''

if doc.bw then
  if doc.dk ~= device then return {'other_device'} end
  -- Revoked: the device is told by the revocation list; it may not move
  -- its end on.
  if redis.call('ZSCORE', rb, token) then return {'revoked'} end
  local until_ms = tonumber(doc.bw)
  if asked > until_ms then
    until_ms = asked
    doc.bw = until_ms
    redis.call('HSET', info, token, cjson.encode(doc))
    redis.call('ZADD', live, 'XX', until_ms, token)
    redis.call('ZADD', bw, until_ms, token)
    record(k, 'borrow_extended', token, now, 'bu', until_ms)
  end
  return {'extended', until_ms, m[8] or '', fp, class}
end

-- The borrowed seats now: every entry of bw whose end is to come (a
-- borrowed session stays in live until then, see common.lua).
redis.call('ZREMRANGEBYSCORE', bw, '-inf', now)
local borrowed = redis.call('ZCARD', bw)
local seats = tonumber(m[7] or '0') or 0
local max_c = tonumber(m[5] or '0') or 0
local min_online = tonumber(m[6] or '0') or 0
local cap = seats
if max_c > 0 and max_c < cap then cap = max_c end
if seats - min_online < cap then cap = seats - min_online end
if borrowed + 1 > cap then return {'borrow_limit', borrowed, max_c, min_online, seats} end

doc.bw = asked
doc.dk = device
doc.ho = nil
redis.call('HSET', info, token, cjson.encode(doc))
redis.call('ZADD', live, 'XX', asked, token)
redis.call('ZADD', bw, asked, token)
record(k, 'borrowed', token, now, 'bu', asked)
return {'borrowed', asked, m[8] or '', fp, class}
