-- Shared prelude, prepended to every seat script by lua.go.
--
-- Keys of one license (all carry the license's hash tag, so one script only
-- ever touches one Redis Cluster slot):
--   meta  hash  kh, status, tstatus, seats, exp, ttl, rev, tenant
--   live  zset  session token -> expiry (ms, Redis clock)
--   fps   hash  fingerprint -> session token
--   info  hash  session token -> cjson {fp, host, user, at}
--
-- The only clock is Redis TIME, so every function instance agrees on when a
-- session ends however skewed its own wall clock is.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Removes a session from all three structures. The fingerprint mapping is
-- removed only if it still points at this token, because a newer session of
-- the same workstation may own it.
local function drop_session(live, fps, info, token)
  local raw = redis.call('HGET', info, token)
  if raw then
    local ok, doc = pcall(cjson.decode, raw)
    if ok and type(doc) == 'table' and doc.fp then
      if redis.call('HGET', fps, doc.fp) == token then
        redis.call('HDEL', fps, doc.fp)
      end
    end
    redis.call('HDEL', info, token)
  end
  return redis.call('ZREM', live, token)
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
