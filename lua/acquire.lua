-- Acquire a seat for one workstation, atomically.
-- KEYS: 1 meta, 2 live, 3 fps, 4 info
-- ARGV: 1 key hash (hex sha256 of the license key), 2 fingerprint,
--       3 new session token, 4 hostname, 5 user
-- Returns one of:
--   {'no_meta'}                              metadata not in Redis: load and retry
--   {'not_found'}                            wrong key, or license deleted
--   {'inactive'}                             suspended, tenant suspended, or expired
--   {'no_seats', used, seats}
--   {'granted'|'resumed', token, expiry_ms, used, seats, ttl_s}
local PRUNE_BATCH = 16

local meta, live, fps, info = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local key_hash, fp, new_token = ARGV[1], ARGV[2], ARGV[3]

local m = redis.call('HMGET', meta, 'kh', 'status', 'tstatus', 'seats', 'exp', 'ttl')
if not m[1] then return {'no_meta'} end
if m[1] ~= key_hash then return {'not_found'} end

local now = now_ms()
local seats, exp, ttl = tonumber(m[4]), tonumber(m[5]), tonumber(m[6])
local state = license_state(m[2], m[3], exp, now)
if state == 'deleted' then return {'not_found'} end
if state ~= 'active' then return {'inactive'} end

-- Expired sessions never count (ZCOUNT below starts after now); pruning a
-- bounded batch here only keeps memory in check between sweeps.
local dead = redis.call('ZRANGEBYSCORE', live, '-inf', now, 'LIMIT', 0, PRUNE_BATCH)
for _, token in ipairs(dead) do drop_session(live, fps, info, token) end

local expiry = session_expiry(now, ttl, exp)

-- Idempotent per (license, fingerprint): a live session is resumed, not doubled.
local current = redis.call('HGET', fps, fp)
if current then
  local score = redis.call('ZSCORE', live, current)
  if score and tonumber(score) > now then
    redis.call('ZADD', live, 'XX', expiry, current)
    local used = redis.call('ZCOUNT', live, '(' .. now, '+inf')
    return {'resumed', current, expiry, used, seats, ttl}
  end
  drop_session(live, fps, info, current)
end

local used = redis.call('ZCOUNT', live, '(' .. now, '+inf')
if used >= seats then return {'no_seats', used, seats} end

redis.call('ZADD', live, expiry, new_token)
redis.call('HSET', fps, fp, new_token)
redis.call('HSET', info, new_token,
  cjson.encode({fp = fp, host = ARGV[4], user = ARGV[5], at = now}))
return {'granted', new_token, expiry, used + 1, seats, ttl}
