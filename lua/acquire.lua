-- Acquire a seat for one workstation (or one person), atomically.
-- KEYS: 1 meta, 2 live, 3 info, 4 users, 5 blocked, 6 events, 7 unknown,
--       8 ov (the overage sessions, see common.lua)
-- ARGV: 1 key hash (hex sha256 of the license key: the license's, or its
--       previous one within the grace of a rotation), 2 fingerprint,
--       3 new session's digest, 4 hostname, 5 user, 6 os, 7 repository,
--       8 tenants of the authenticated caller, space-separated ('' when none),
--       9 acquires allowed per second per license (0: no limit), 10 burst,
--       11 new session's nonce (its id is derived from it and the key),
--       12 the instance (process) acquiring ('' or absent: the anonymous
--       holder)
-- Returns one of:
--   {'no_meta'}                              metadata not in Redis: load and retry
--   {'not_found'}                            wrong key, license deleted, or
--                                            PostgreSQL recently said there is
--                                            no such license (unknown is set)
--   {'rate_limited', retry_after_ms}         too many acquires of this license
--   {'inactive'}                             suspended, tenant suspended, or expired
--   {'user_required'}                        the license needs an authenticated user
--   {'user_missing'}                         the policy counts per user; no user given
--   {'wrong_tenant'}                         the caller belongs to another tenant
--   {'blocked'}                              the workstation is blocked
--   {'session_borrowed'}                     the lease key's live session is
--                                            borrowed (see common.lua)
--   {'no_seats', used, seats}
--   {'user_limit', used_by_user, max}
--   {'instance_limit', holders, max}         the shared seat has all the
--                                            holders it may (max 0: only
--                                            the service's bound)
--   {'granted'|'resumed', digest, expiry_ms, used, seats, ttl_s, tenant, rate_remaining, nonce, class}
--   (rate_remaining: acquires still allowed at once; -1 without a limit;
--   nonce: the session's, from which the caller derives its id again;
--   class: 'e' entitled or 'o' overage, the session's now)
--
-- Every Redis call costs several microseconds inside a script, so the common
-- grant is kept to eight: HMGET, TIME, HSET (rate), HGET (lease), ZCOUNT,
-- ZADD, HSET (session and lease), XADD. Expired sessions are not pruned here:
-- they never count (ZCOUNT starts after now) and the sweep removes them.
local meta, live, info, users, blocked = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local k = {live = KEYS[2], info = KEYS[3], users = KEYS[4], events = KEYS[6], ov = KEYS[8], meta = KEYS[1]}
local key_hash, fp, new_token, user, caller_tenant = ARGV[1], ARGV[2], ARGV[3], ARGV[5], ARGV[8]
local instance = ARGV[12] or ''

local m = redis.call('HMGET', meta, 'kh', 'status', 'tstatus', 'seats', 'exp', 'ttl', 'ru', 'mpu', 'pu', 'tenant', 'nb', 'tat',
  'pkh', 'pkx', 'mis', 'oa', 'oc')
if not m[1] then
  -- A license PostgreSQL did not know a moment ago (a key made up for a
  -- random id): answered here, so a flood of them reads PostgreSQL once per
  -- id. Checked only after meta, so a license written through since wins.
  if redis.call('EXISTS', KEYS[7]) == 1 then return {'not_found'} end
  return {'no_meta'}
end
local now
if m[1] ~= key_hash then
  -- After a key rotation the previous key opens the license until its
  -- grace ends, by the Redis clock.
  if m[13] ~= key_hash then return {'not_found'} end
  now = now_ms()
  if now >= tonumber(m[14] or '0') then return {'not_found'} end
else
  now = now_ms()
end
-- Which key a session was acquired with: its id derives from that key, so
-- only a caller presenting the same key can be handed it back.
local key_tag = string.sub(key_hash, 1, 16)

-- The per-license rate limit (GCRA): each acquire moves the theoretical
-- arrival time on by 1/rate; up to burst may arrive at once. Refusals are
-- not seat events and leave no ledger entry, so a flood cannot fill it.
local rate, burst = tonumber(ARGV[9]), tonumber(ARGV[10])
local remaining = -1
if rate > 0 then
  local interval = 1000 / rate
  local tat = tonumber(m[12] or '0')
  if tat < now then tat = now end
  local next_tat = tat + interval
  local allow_at = next_tat - burst * interval
  if now < allow_at then return {'rate_limited', math.ceil(allow_at - now)} end
  redis.call('HSET', meta, 'tat', next_tat)
  remaining = math.floor((now - allow_at) / interval)
end

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
  -- The license's tenant must be one of the caller's (a person may belong
  -- to several); ids are UUIDs, so a space-delimited match is exact.
  local tenant = m[10] or ''
  if tenant == '' or not string.find(' ' .. caller_tenant .. ' ', ' ' .. tenant .. ' ', 1, true) then
    return deny('wrong_tenant')
  end
end
if (per_user or max_per_user > 0) and user == '' then return deny('user_missing') end
if tonumber(m[11] or '1') > 0 and redis.call('SISMEMBER', blocked, fp) == 1 then return deny('blocked') end

local expiry = session_expiry(now, ttl, exp)

-- Idempotent per lease key: a live session is resumed, not doubled; a
-- lingering one (released, still counted) is reattached.
local lease_key = fp
if per_user then lease_key = '\0u:' .. user end
local current = redis.call('HGET', info, '\0' .. lease_key)
if current then
  local score = redis.call('ZSCORE', live, current)
  if score and tonumber(score) > now then
    -- Redis holds no session id, only the nonce the caller derives it from
    -- again. A session from before digests has none: its id cannot be
    -- handed back, so it ends here and the workstation gets a new one.
    local ok, doc = pcall(cjson.decode, redis.call('HGET', info, current) or '')
    -- Borrowed: its device holds the seat offline until the borrow ends or
    -- is returned; the workstation gets no second seat and no resume.
    -- Not a seat refusal, so no denied event.
    if ok and type(doc) == 'table' and doc.bw then return {'session_borrowed'} end
    -- A session from before key tags was acquired with the current key
    -- unless the key was rotated since (then which one is unknown).
    local tag = nil
    if ok and type(doc) == 'table' then
      tag = doc.k
      if not tag and (not m[13] or m[13] == '') then tag = string.sub(m[1], 1, 16) end
    end
    if ok and type(doc) == 'table' and type(doc.n) == 'string' and tag == key_tag then
      if doc.lg then
        -- Released and lingering: its holder (this lease key) takes it
        -- back, the same session, held again from now on. The seat
        -- counted all along, so no count is checked.
        doc.lg = nil
        doc.ho = nil
        if instance ~= '' then doc.ho = {[instance] = SOLE} end
        redis.call('HSET', info, current, cjson.encode(doc))
        redis.call('ZADD', live, 'XX', expiry, current)
        record(k, 'reattached', current, now)
      elseif instance ~= '' or type(doc.ho) == 'table' then
        -- A shared seat: this holder joins it or renews its hold; the
        -- others keep theirs. A session acquired without an instance has
        -- one anonymous holder, until its lease at the latest.
        local name = instance
        if name == '' then name = ANON end
        local holders, n
        if type(doc.ho) == 'table' then
          holders, n = live_holders(doc.ho, now, name, score)
        else
          holders, n = {[ANON] = tonumber(score)}, 1
          if name == ANON then n = 0 end
        end
        local max = tonumber(m[15] or '0')
        if n >= MAX_HOLDERS or (max > 0 and n >= max) then return deny('instance_limit', n, max) end
        holders[name] = expiry
        keep_holders(k, current, doc, holders)
      else
        redis.call('ZADD', live, 'XX', expiry, current)
      end
      local used = redis.call('ZCOUNT', live, '(' .. now, '+inf')
      -- ov is read only while the license may have overage sessions.
      local class = 'e'
      if m[17] == '1' and redis.call('ZSCORE', k.ov, current) then class = 'o' end
      return {'resumed', current, expiry, used, seats, ttl, m[10], remaining, doc.n, class}
    end
    if ok and type(doc) == 'table' and type(doc.n) == 'string' then
      -- Held under the other key of a rotation: its id cannot be derived
      -- from the key presented, so it ends and the caller gets a new one.
      drop_session(k, current, 'released', now, 'r', 'rekeyed')
    else
      drop_session(k, current, 'expired', now)
    end
  else
    drop_session(k, current, 'expired', tonumber(score or now))
  end
end

local used = redis.call('ZCOUNT', live, '(' .. now, '+inf')
-- The overage policy's allowance bounds grants (absent: seats; -1: none);
-- the refusal names seats, the license's own count, as before overage.
local allowance = tonumber(m[16] or '') or seats
if allowance >= 0 and used >= allowance then return deny('no_seats', used, seats) end

-- A person's live sessions are tracked only while a per-user limit is in
-- force; dead ones are dropped from the list here.
local tracked = 0
if max_per_user > 0 then
  local kept = live_of_user(k, user, now, nil)
  if #kept >= max_per_user then return deny('user_limit', #kept, max_per_user) end
  kept[#kept + 1] = new_token
  redis.call('HSET', users, user, table.concat(kept, ' '))
  tracked = 1
end

local doc = {fp = fp, lk = lease_key, host = ARGV[4], user = user, os = ARGV[6], repo = ARGV[7], at = now, tu = tracked,
  n = ARGV[11], k = key_tag}
if instance ~= '' then doc.ho = {[instance] = SOLE} end
redis.call('ZADD', live, expiry, new_token)
redis.call('HSET', info, new_token, cjson.encode(doc), '\0' .. lease_key, new_token)
-- A grant while seats or more are live is overage (see common.lua); the
-- entitled grant, the common case, pays nothing for the policy.
if used >= seats then
  -- Scored by the grant's time, just after the latest overage grant when
  -- that is as late (several grants in one ms keep their order: FIFO).
  local last = redis.call('ZRANGE', k.ov, -1, -1, 'WITHSCORES')
  local score = now
  if last[2] and tonumber(last[2]) >= now then score = tonumber(last[2]) + OV_STEP end
  redis.call('ZADD', k.ov, score, new_token)
  record(k, 'acquired', new_token, now, 'fp', fp, 'u', user, 'h', ARGV[4], 'repo', ARGV[7], 'c', 'o')
  if #last == 0 then record(k, 'overage_entered', nil, now) end
  return {'granted', new_token, expiry, used + 1, seats, ttl, m[10], remaining, ARGV[11], 'o'}
end
record(k, 'acquired', new_token, now, 'fp', fp, 'u', user, 'h', ARGV[4], 'repo', ARGV[7])
return {'granted', new_token, expiry, used + 1, seats, ttl, m[10], remaining, ARGV[11], 'e'}
