-- Acquire a seat for one workstation (or one person), atomically.
-- KEYS: 1 meta, 2 live, 3 leases, 4 info, 5 users, 6 blocked, 7 events
-- ARGV: 1 key hash (hex sha256 of the license key), 2 fingerprint,
--       3 new session token, 4 hostname, 5 user, 6 os, 7 repository,
--       8 tenant of the authenticated caller ('' when none)
-- Returns one of:
--   {'no_meta'}                              metadata not in Redis: load and retry
--   {'not_found'}                            wrong key, or license deleted
--   {'inactive'}                             suspended, tenant suspended, or expired
--   {'user_required'}                        the license needs an authenticated user
--   {'user_missing'}                         the policy counts per user; no user given
--   {'wrong_tenant'}                         the caller belongs to another tenant
--   {'blocked'}                              the workstation is blocked
--   {'no_seats', used, seats}
--   {'user_limit', used_by_user, max}
--   {'granted'|'resumed', token, expiry_ms, used, seats, ttl_s, tenant}
local PRUNE_BATCH = 16

local meta, live, leases, info, users, blocked = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local k = {live = KEYS[2], leases = KEYS[3], info = KEYS[4], users = KEYS[5], events = KEYS[7]}
local key_hash, fp, new_token, user, caller_tenant = ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[8]

local m = redis.call('HMGET', meta, 'kh', 'status', 'tstatus', 'seats', 'exp', 'ttl', 'ru', 'mpu', 'pu', 'tenant')
if not m[1] then return {'no_meta'} end
if m[1] ~= key_hash then return {'not_found'} end

local now = now_ms()
local seats, exp, ttl = tonumber(m[4]), tonumber(m[5]), tonumber(m[6])
local require_user, max_per_user, per_user = m[7] == '1', tonumber(m[8] or '0'), m[9] == '1'
-- Every refusal of a real license is a 'denied' event; a wrong key is not
-- (it names no one's license).
local function deny(reason, ...)
  record(k, 'denied', nil, now, 'r', reason, 'fp', fp, 'u', user, 'h', ARGV[4], 'repo', ARGV[7])
  return {reason, ...}
end
local state = license_state(m[2], m[3], exp, now)
if state == 'deleted' then return {'not_found'} end
if state ~= 'active' then return deny('inactive') end
if require_user then
  if caller_tenant == '' or user == '' then return deny('user_required') end
  if caller_tenant ~= m[10] then return deny('wrong_tenant') end
end
if (per_user or max_per_user > 0) and user == '' then return deny('user_missing') end
if redis.call('SISMEMBER', blocked, fp) == 1 then return deny('blocked') end

-- Expired sessions never count (ZCOUNT below starts after now); pruning a
-- bounded batch here only keeps memory in check between sweeps.
local dead = redis.call('ZRANGEBYSCORE', live, '-inf', now, 'WITHSCORES', 'LIMIT', 0, PRUNE_BATCH)
for i = 1, #dead, 2 do drop_session(k, dead[i], 'expired', tonumber(dead[i + 1])) end

local expiry = session_expiry(now, ttl, exp)

-- Idempotent per lease key: a live session is resumed, not doubled.
local lease_key = fp
if per_user then lease_key = '\0u:' .. user end
local current = redis.call('HGET', leases, lease_key)
if current then
  local score = redis.call('ZSCORE', live, current)
  if score and tonumber(score) > now then
    redis.call('ZADD', live, 'XX', expiry, current)
    local used = redis.call('ZCOUNT', live, '(' .. now, '+inf')
    return {'resumed', current, expiry, used, seats, ttl, m[10]}
  end
  drop_session(k, current, 'expired', tonumber(score or now))
end

local used = redis.call('ZCOUNT', live, '(' .. now, '+inf')
if used >= seats then return deny('no_seats', used, seats) end

local mine = ''
if user ~= '' then
  -- The person's live sessions; dead ones are dropped from the list here.
  local kept = {}
  for t in string.gmatch(redis.call('HGET', users, user) or '', '%S+') do
    local s = redis.call('ZSCORE', live, t)
    if s and tonumber(s) > now then kept[#kept + 1] = t end
  end
  if max_per_user > 0 and #kept >= max_per_user then return deny('user_limit', #kept, max_per_user) end
  kept[#kept + 1] = new_token
  mine = table.concat(kept, ' ')
  redis.call('HSET', users, user, mine)
end

redis.call('ZADD', live, expiry, new_token)
redis.call('HSET', leases, lease_key, new_token)
redis.call('HSET', info, new_token, cjson.encode({
  fp = fp, lk = lease_key, host = ARGV[4], user = user, os = ARGV[6], repo = ARGV[7], at = now}))
record(k, 'acquired', new_token, now, 'fp', fp, 'u', user, 'h', ARGV[4], 'repo', ARGV[7])
return {'granted', new_token, expiry, used + 1, seats, ttl, m[10]}
