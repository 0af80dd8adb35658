-- Shared prelude, prepended to every seat script by lua.go.
--
-- Keys of one license (all carry the license's hash tag, so one script only
-- ever touches one Redis Cluster slot):
--   meta   hash  kh, status, tstatus, seats, exp, ttl, ru, mpu, pu, nb, rev,
--                tenant; tat (the acquire rate limiter's state)
--   live   zset  session digest -> expiry (ms, Redis clock)
--   info   hash  session digest -> cjson {fp, lk, host, user, os, repo, at, tu, n},
--                and NUL .. lease key -> session digest (the lease key is the
--                fingerprint, or NUL "u:" user for per-user leasing); one hash
--                so a grant is one HSET
--   users  hash  user -> space-separated session digests, kept only while a
--                per-user seat limit is in force (tu marks such sessions)
--
-- Sessions are named by their digest (32 hex characters, computed in Go:
-- tokens.Session), never by their id: the id is the bearer credential that
-- heartbeats and releases, and Redis must not hold it. n is the nonce from
-- which Go derives the id again, with the license key the caller presents,
-- when a workstation resumes. A session written before digests is named by
-- its clear 22-character token and has no n; it is never resumed (see
-- acquire.lua) and ends within one lease, and record() hashes its name.
-- The scripts' variables called token hold these names.
--   blocked set  blocked workstation fingerprints (nb in meta counts them)
--   events  stream the usage ledger: one entry per seat event (see record)
--   ended   zset  tombstones of sessions an operator ended: 'r:' .. digest
--                (revoked) or 'b:' .. digest (its workstation was blocked)
--                -> the expiry the session had, so its next heartbeat can
--                say why it is gone; the sweep drops each once that passes
--   A session several processes hold (a shared seat: an acquire named an
--   instance) has ho in its info: holder name -> that holder's expiry (ms),
--   the anonymous holder (no instance named) being ANON; the session's
--   score in live is then the latest of its holders' expiries, so the seat
--   frees when the last holder releases or lapses. A sole holder's expiry
--   is stored as SOLE: it is the session's score, so the common case (one
--   process per workstation) heartbeats with one ZADD and no rewrite of
--   the info. A session without ho has one anonymous holder, as every
--   session had before holders.
--   A session released while the license's policy lingers (meta lg, in
--   seconds) stays in live, counted, until the linger ends (its score),
--   with lg = 1 in its info; an acquire for its lease key takes it back
--   (reattach). meta rv is the revive window (seconds): a session that
--   expired less than that ago is left in live for a heartbeat to revive
--   (the sweep leaves it, and nothing counts it: counts start after now).
--   ov     zset  the sessions currently of class overage -> when each was
--                granted (ms; a fraction orders grants of one ms, see
--                OV_STEP); see Overage below
--   meta also holds pkh and pkx: the previous key's hash and when it stops
--   opening the license (ms, Redis clock) after a key rotation; and each
--   session's info its k, the first 16 hex characters of the hash of the
--   key it was acquired with (its id derives from that key)
--
-- Overage: meta oa is the license's allowance (seats plus its overage
-- policy's extra, -1 without a bound; absent: seats), and acquire grants up
-- to it. A grant while seats or more are live is of class overage (it
-- joins ov); the others are entitled. Invariant: the entitled sessions are
-- always the oldest live ones, so with constant seats the overage count is
-- max(0, live - seats) and the ledger bills the true excess, not the order
-- of arrival. It is kept by reclassification (FIFO): when an entitled
-- session leaves live, the oldest live overage session becomes entitled
-- (overage_leave below); an overage session leaving promotes nothing.
-- Raising seats promotes (sync_license.lua); lowering them demotes no one:
-- live sessions keep their class, new grants are classed by the new seats.
-- meta oc is 1 while ov may hold sessions (the policy is on, or was when
-- they were granted): heartbeat and a resume read ov only then, so a
-- license without overage pays nothing for it. The ledger records
-- reclassified (a session entitled from then), and overage_entered and
-- overage_exited (no session) when ov turns non-empty and empty.
--
-- Borrow (offline checkout): a live session turned borrowed has bw (the
-- borrow's end, ms) and dk (the device key it is borrowed under, verbatim)
-- in its info, and its score in live is bw, so it counts, needs no
-- heartbeat and is never swept before its end; heartbeat, release and an
-- acquire resuming it refuse it (session_borrowed). meta bms, bmc and bmo
-- are the policy: max seconds (0: borrowing off), max concurrent (0: all
-- seats) and min online seats.
--   bw     zset  borrowed sessions -> their borrow's end (ms), so a borrow
--                counts the borrowed seats with one ZCOUNT; an entry whose
--                end passed is stale (trimmed by the next borrow)
--   rb     zset  revoked borrowed sessions -> their borrow's end: revoking
--                one cannot reach its offline client, so it keeps counting
--                until its end and is listed for the signed revocation
--                list; entries whose end passed are trimmed on each write
--                and read
--   rp     zset  return proof ids already used -> until when they are
--                remembered (ms), so each proof frees a seat only once
--
-- The only clock is Redis TIME, so every function instance agrees on when a
-- session ends however skewed its own wall clock is.

-- Holders of a shared seat: ANON names the holder that names no instance;
-- MAX_HOLDERS bounds the holders of one session whatever the policy says (a
-- bound on the work and memory of one session; seats.MaxHoldersPerSeat is
-- the same number); SOLE is a sole holder's expiry, the session's score.
local ANON = '*'
local MAX_HOLDERS = 256
local SOLE = -1
-- OV_STEP orders overage grants of one ms in ov: a fraction of a ms, exact
-- in a double at today's ms timestamps (their unit in the last place is
-- 2^-12 ms), so the score's whole part stays the grant's ms.
local OV_STEP = 1 / 1024

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Removes token from a space-separated list.
local function without(list, token)
  local out = {}
  for t in string.gmatch(list or '', '%S+') do
    if t ~= token then out[#out + 1] = t end
  end
  return table.concat(out, ' ')
end

-- Appends one event to the license's usage ledger: a stream in the same
-- slot, written in the same atomic step as the seat change it records, so a
-- change and its record exist together or not at all. A drain moves the
-- stream into PostgreSQL. The session is named by its digest, as the lease
-- and the admin lists name it; a session from before digests, named in Redis
-- by its clear token, by a digest of that token, as it always was, so its
-- events still meet in the ledger and the token never reaches PostgreSQL.
local function record(k, kind, token, at, ...)
  local ref = ''
  if token then
    ref = token
    if #token ~= 32 then ref = string.sub(redis.sha1hex(token), 1, 32) end
  end
  redis.call('XADD', k.events, '*', 't', kind, 's', ref, 'at', at, ...)
end

-- The overage sessions live at now, oldest first, each {digest, when it
-- was granted}. A session in ov whose lease ran out but the sweep has not
-- dropped yet is passed over and left in ov: it ends as overage when it is
-- dropped (dated at its lease's end), and promoting it would leave a live
-- one in overage while a seat is free. Reads every session in ov, which the
-- allowance bounds (but for unlimited overage).
local function live_overage(k, now)
  local rows = redis.call('ZRANGE', k.ov, 0, -1, 'WITHSCORES')
  local over = {}
  for i = 1, #rows, 2 do
    local s = redis.call('ZSCORE', k.live, rows[i])
    if s and tonumber(s) > now then over[#over + 1] = {rows[i], tonumber(rows[i + 1])} end
  end
  return over
end

-- Makes the session entitled from at (or its grant, if later): out of ov,
-- recorded as reclassified; overage_exited if ov is empty after.
local function promote(k, token, granted, at)
  granted = math.floor(granted)
  if granted > at then at = granted end
  redis.call('ZREM', k.ov, token)
  record(k, 'reclassified', token, at)
  if redis.call('ZCARD', k.ov) == 0 then record(k, 'overage_exited', nil, at) end
end

-- Promotes the oldest live overage sessions, at most limit, while fewer
-- than seats live sessions are entitled; returns how many. Counted
-- exactly, every overage session's lease read, only when live - |ov| <
-- seats: that bound is low when ov holds sessions whose lease ran out
-- unswept (a restart, a network drop), and counting those as overage would
-- promote past the seats (the chaos test caught it). Whether a session is
-- live is judged at Redis's now, as grants judge it.
--
-- A promotion is dated at at (the freed seat's end), or later: at the
-- promoted session's grant, and at the end of the latest lease that ran
-- out unswept. The ledger ends such a session at its lease's end, but it
-- held its seat until then, which the count at now does not see: dated
-- earlier, the promotion would count that seat twice in between (the chaos
-- test caught that too). Only after a restart or an outage is more than
-- the one session being dropped unswept, so the usual promotion is dated
-- at the seat's end, and the sweep's lag is not billed as overage.
local function promote_free(k, seats, at, limit)
  local n = redis.call('ZCARD', k.ov)
  if n == 0 then return 0 end
  local now = now_ms()
  local live = redis.call('ZCOUNT', k.live, '(' .. now, '+inf')
  if live - n >= seats then return 0 end
  local over = live_overage(k, now)
  local entitled, promoted = live - #over, 0
  if entitled >= seats or #over == 0 then return 0 end
  local lapsed = redis.call('ZREVRANGEBYSCORE', k.live, now, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if lapsed[2] and tonumber(lapsed[2]) > at then at = tonumber(lapsed[2]) end
  while entitled < seats and promoted < #over and promoted < limit do
    promoted = promoted + 1
    promote(k, over[promoted][1], over[promoted][2], at)
    entitled = entitled + 1
  end
  return promoted
end

-- A session (token) left live at at: keeps the overage invariant (see
-- Overage above). The common case, a license with nothing in ov, costs one
-- ZCARD. It promotes one session at most: for the seat this one freed.
-- (Entitled sessions whose lease ran out unswept are not live now, so the
-- count may show more seats free; each frees its own when the sweep drops
-- it.)
local function overage_leave(k, token, at)
  local n = redis.call('ZCARD', k.ov)
  if n == 0 then return end
  if redis.call('ZREM', k.ov, token) == 1 then
    -- An overage session ending frees no entitled seat.
    if n == 1 then record(k, 'overage_exited', nil, at) end
    return
  end
  promote_free(k, tonumber(redis.call('HGET', k.meta, 'seats') or '0') or 0, at, 1)
end

-- Removes a session from every structure and records why it ended (kind:
-- released, expired or revoked; at: when, in ms; any further arguments are
-- field/value pairs of the ledger entry, such as the reason and the actor).
-- A lingering session (released into its linger, lg in its info) that runs
-- out ends as linger_ended, not expired: its holder released it, and the
-- ledger already has that release. The lease mapping is removed only if it
-- still points at this token, because a newer session may own it. k holds
-- the license's keys: live, info, users, events, ov and meta (see
-- overage_leave). raw is the session's info
-- as read (nil: none).
local function drop_read(k, token, raw, kind, at, ...)
  if raw then
    local ok, doc = pcall(cjson.decode, raw)
    local lease_field = nil
    if ok and type(doc) == 'table' then
      if kind == 'expired' and doc.lg then kind = 'linger_ended' end
      local lk = doc.lk or doc.fp
      if lk and redis.call('HGET', k.info, '\0' .. lk) == token then lease_field = '\0' .. lk end
      if doc.tu == 1 and doc.user and doc.user ~= '' then
        local rest = without(redis.call('HGET', k.users, doc.user), token)
        if rest == '' then
          redis.call('HDEL', k.users, doc.user)
        else
          redis.call('HSET', k.users, doc.user, rest)
        end
      end
    end
    if lease_field then
      redis.call('HDEL', k.info, token, lease_field)
    else
      redis.call('HDEL', k.info, token)
    end
  end
  local removed = redis.call('ZREM', k.live, token)
  if removed == 1 then
    record(k, kind, token, at, ...)
    overage_leave(k, token, at)
  end
  return removed
end

-- A person's live sessions (digests) at now, from the per-user list kept
-- while a per-user seat limit is in force (k.users), without skip.
local function live_of_user(k, user, now, skip)
  local kept = {}
  for t in string.gmatch(redis.call('HGET', k.users, user) or '', '%S+') do
    local s = redis.call('ZSCORE', k.live, t)
    if t ~= skip and s and tonumber(s) > now then kept[#kept + 1] = t end
  end
  return kept
end

-- drop_read of a session whose info is not read yet.
local function drop_session(k, token, kind, at, ...)
  return drop_read(k, token, redis.call('HGET', k.info, token), kind, at, ...)
end

-- Ends a live session (expiry: its score in live) on an operator's word or
-- because its workstation is blocked: recorded as revoked with why (reason)
-- and by whom (actor, '' for the service), and a tombstone tagged 'r' or
-- 'b' kept until the session would have expired, so its next heartbeat is
-- told it was revoked rather than that it is unknown. k.ended is the
-- tombstones' key.
-- A borrowed session is the exception (k.rb given, the scripts that may
-- meet one): its client is offline and keeps using the seat until the
-- borrow ends, so the seat keeps counting, nothing is recorded now (it ends
-- as expired at the borrow's end), and it joins the revoked borrows (rb)
-- for the signed revocation list.
local function revoke_session(k, token, expiry, tag, reason, actor, now)
  if k.rb then
    local ok, doc = pcall(cjson.decode, redis.call('HGET', k.info, token) or '')
    if ok and type(doc) == 'table' and doc.bw then
      redis.call('ZREMRANGEBYSCORE', k.rb, '-inf', now)
      redis.call('ZADD', k.rb, expiry, token)
      return 1
    end
  end
  local n = drop_session(k, token, 'revoked', now, 'r', reason, 'a', actor)
  if n == 1 then redis.call('ZADD', k.ended, expiry, tag .. ':' .. token) end
  return n
end

-- A license is usable when both it and its tenant are active and it has not
-- passed its expiry (0 means no expiry).
local function license_state(status, tstatus, exp, now)
  if status == 'deleted' or tstatus == 'deleted' then return 'deleted' end
  if status ~= 'active' or tstatus ~= 'active' then return 'inactive' end
  if exp > 0 and now >= exp then return 'inactive' end
  return 'active'
end

-- A session never outlives its license.
local function session_expiry(now, ttl_s, exp)
  local e = now + ttl_s * 1000
  if exp > 0 and exp < e then e = exp end
  return e
end

-- The live holders of a shared seat at now, without the one named skip,
-- and how many they are; score is the session's (a SOLE holder's expiry).
local function live_holders(ho, now, skip, score)
  local out, n = {}, 0
  for name, e in pairs(ho) do
    e = tonumber(e)
    if e == SOLE then e = tonumber(score) end
    if name ~= skip and e > now then
      out[name] = e
      n = n + 1
    end
  end
  return out, n
end

-- The latest expiry among holders (0 when there is none).
local function latest(holders)
  local top = 0
  for _, e in pairs(holders) do
    if tonumber(e) > top then top = tonumber(e) end
  end
  return top
end

-- Writes a shared seat's holders back (a sole holder as SOLE; not at all
-- when the info already says so) and moves its score in live to the latest
-- of their expiries.
local function keep_holders(k, token, doc, holders)
  local top = latest(holders)
  local only, n = nil, 0
  for name in pairs(holders) do
    only = name
    n = n + 1
  end
  if n == 1 then
    local was = doc.ho
    local already = type(was) == 'table' and tonumber(was[only]) == SOLE and next(was, next(was)) == nil
    if not already then
      doc.ho = {[only] = SOLE}
      redis.call('HSET', k.info, token, cjson.encode(doc))
    end
  else
    doc.ho = holders
    redis.call('HSET', k.info, token, cjson.encode(doc))
  end
  redis.call('ZADD', k.live, 'XX', top, token)
end
