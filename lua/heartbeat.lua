-- Extend a live session.
-- KEYS: 1 meta, 2 live, 3 info, 4 users, 5 events, 6 blocked, 7 ended,
--       8 ov (the overage sessions, see common.lua)
-- ARGV: 1 session digest, 2 the fingerprint the heartbeat names ('' none;
--       read only under per-user leasing, where one session may be held
--       from several workstations), 3 the instance (process) heartbeating
--       ('' none: the anonymous holder; read only for a shared seat, see
--       common.lua)
-- Returns {'not_found'}, {'no_meta'}, {'session_borrowed'} (it is borrowed,
-- see common.lua: it needs no heartbeat and keeps its borrow's end),
-- {'inactive'} (the session is revoked in the same step), {'revoked'} (an operator ended it), {'blocked'} (its
-- workstation, or under per-user leasing the one heartbeating, is blocked:
-- ended now or before) or {'ok', expiry_ms, ttl_s, tenant, fingerprint,
-- per_user, revived, class} (what a signed lease names; with per-user
-- leasing the lease names the workstation heartbeating; revived 1 when the
-- session had expired and was revived, see revive; class 'e' entitled or
-- 'o' overage, the session's now: it may have been reclassified since the
-- last beat). A holder of a shared seat that is
-- not among its live holders (it released, or lapsed while others held the
-- seat) is {'not_found'}: it acquires again and rejoins the session.
local meta, live, info, blocked, ended = KEYS[1], KEYS[2], KEYS[3], KEYS[6], KEYS[7]
local k = {live = KEYS[2], info = KEYS[3], users = KEYS[4], events = KEYS[5], ended = KEYS[7], ov = KEYS[8], meta = KEYS[1]}
local token, asking = ARGV[1], ARGV[2]

-- Revives the session, expired at score, for the heartbeating holder, if
-- the license's revive window (rv, seconds) has not passed, the license is
-- usable, the workstation is not blocked, the session is not one its
-- holder released (lingering), the holder was one of its holders, and a
-- seat (and, under a per-user limit, the person's seat) is free now.
-- raw is the session's info as read. Returns the heartbeat's answer, or
-- nil to refuse. The ledger records the expiry at score and the revival
-- now: the seat was free in between.
local function revive(score, now, raw)
  local m = redis.call('HMGET', meta, 'rv', 'status', 'tstatus', 'exp', 'ttl', 'tenant', 'pu', 'nb', 'seats', 'mpu', 'oc')
  local window = tonumber(m[1] or '0') or 0
  if window <= 0 or now - tonumber(score) > window * 1000 then return nil end
  local exp, ttl = tonumber(m[4] or '0'), tonumber(m[5] or '0')
  if license_state(m[2], m[3], exp, now) ~= 'active' then return nil end
  local ok, doc = pcall(cjson.decode, raw or '')
  -- A borrow that ended is over: its device must borrow again online.
  if not ok or type(doc) ~= 'table' or doc.lg or doc.bw then return nil end
  local fp = doc.fp or ''
  if tonumber(m[8] or '0') > 0 then
    if redis.call('SISMEMBER', blocked, fp) == 1 then return nil end
    if asking ~= '' and asking ~= fp and redis.call('SISMEMBER', blocked, asking) == 1 then return nil end
  end
  local name = ARGV[3] or ''
  if name == '' then name = ANON end
  if type(doc.ho) == 'table' and not doc.ho[name] then return nil end
  if redis.call('ZCOUNT', live, '(' .. now, '+inf') >= tonumber(m[9] or '0') then return nil end
  local mpu = tonumber(m[10] or '0') or 0
  if doc.tu == 1 and mpu > 0 and #live_of_user(k, doc.user or '', now, token) >= mpu then return nil end
  local expiry = session_expiry(now, ttl, exp)
  if type(doc.ho) == 'table' then
    doc.ho = {[name] = SOLE}
    redis.call('HSET', info, token, cjson.encode(doc))
  end
  redis.call('ZADD', live, 'XX', expiry, token)
  record(k, 'expired', token, tonumber(score))
  record(k, 'revived', token, now, 'fp', fp, 'u', doc.user or '', 'h', doc.host or '', 'repo', doc.repo or '')
  -- Revived only into a free seat, so entitled: a session that lapsed
  -- while of class overage leaves ov.
  if m[11] == '1' and redis.call('ZREM', k.ov, token) == 1 and redis.call('ZCARD', k.ov) == 0 then
    record(k, 'overage_exited', nil, now)
  end
  return {'ok', expiry, ttl, m[6] or '', fp, tonumber(m[7] or '0'), 1, 'e'}
end

local score = redis.call('ZSCORE', live, token)
if not score then
  -- Off the hot path: only a session that is gone reads its tombstones.
  local now = now_ms()
  local r = redis.call('ZSCORE', ended, 'r:' .. token)
  if r and tonumber(r) > now then return {'revoked'} end
  local b = redis.call('ZSCORE', ended, 'b:' .. token)
  if b and tonumber(b) > now then return {'blocked'} end
  return {'not_found'}
end

local now = now_ms()
-- An expired session is gone, unless the license revives: then, within
-- its window, a heartbeat takes the seat again only if one is free now
-- (the seat may already belong to someone else; never over the limit).
if tonumber(score) <= now then
  local raw = redis.call('HGET', info, token)
  local revived = revive(score, now, raw)
  if revived then return revived end
  drop_read(k, token, raw, 'expired', tonumber(score))
  return {'not_found'}
end

local m = redis.call('HMGET', meta, 'status', 'tstatus', 'exp', 'ttl', 'tenant', 'pu', 'nb', 'oc')
if not m[1] then return {'no_meta'} end
local ok, doc = pcall(cjson.decode, redis.call('HGET', info, token) or '{}')
-- Read before the license's state: a borrowed seat is its offline device's
-- until the borrow ends, whatever happens to the license meanwhile, so
-- nothing here may end it.
if ok and type(doc) == 'table' and doc.bw then return {'session_borrowed'} end
local exp, ttl = tonumber(m[3]), tonumber(m[4])
if license_state(m[1], m[2], exp, now) ~= 'active' then
  drop_session(k, token, 'revoked', now)
  return {'inactive'}
end

local fp = ''
if ok and type(doc) == 'table' and doc.fp then fp = doc.fp end
-- Its holder released it: the seat lingers for a reattach (an acquire),
-- never for a heartbeat.
if ok and type(doc) == 'table' and doc.lg then return {'not_found'} end
local per_user = tonumber(m[6] or '0')
-- A blocked workstation loses its seat here even if the write-through that
-- blocked it never reached this license (nb > 0 skips the set when the
-- tenant blocks nothing: the common heartbeat pays no extra call).
if tonumber(m[7] or '0') > 0 then
  local hit = redis.call('SISMEMBER', blocked, fp) == 1
  if not hit and per_user == 1 and asking ~= '' and asking ~= fp then
    hit = redis.call('SISMEMBER', blocked, asking) == 1
  end
  if hit then
    revoke_session(k, token, tonumber(score), 'b', 'blocked', '', now)
    return {'blocked'}
  end
end

local expiry = session_expiry(now, ttl, exp)
if ok and type(doc) == 'table' and type(doc.ho) == 'table' then
  local name = ARGV[3] or ''
  if name == '' then name = ANON end
  local mine = tonumber(doc.ho[name])
  if mine == SOLE then
    -- The only holder (the session is live, so it is): as a plain session.
    redis.call('ZADD', live, 'XX', expiry, token)
  else
    if not mine or mine <= now then return {'not_found'} end
    local holders = live_holders(doc.ho, now, name, score)
    holders[name] = expiry
    keep_holders(k, token, doc, holders)
  end
else
  redis.call('ZADD', live, 'XX', expiry, token)
end
-- ov is read only while the license may have overage sessions (oc).
local class = 'e'
if m[8] == '1' and redis.call('ZSCORE', k.ov, token) then class = 'o' end
return {'ok', expiry, ttl, m[5] or '', fp, per_user, 0, class}
