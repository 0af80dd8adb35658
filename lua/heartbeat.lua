-- Extend a live session.
-- KEYS: 1 meta, 2 live, 3 info, 4 users, 5 events
-- ARGV: 1 session digest
-- Returns {'not_found'}, {'no_meta'}, {'inactive'} (the session is revoked
-- in the same step) or {'ok', expiry_ms, ttl_s, tenant, fingerprint, per_user}
-- (what a signed lease names; with per-user leasing one session may be held
-- from several workstations, so the lease names the one heartbeating).
local meta, live, info = KEYS[1], KEYS[2], KEYS[3]
local k = {live = KEYS[2], info = KEYS[3], users = KEYS[4], events = KEYS[5]}
local token = ARGV[1]

local score = redis.call('ZSCORE', live, token)
if not score then return {'not_found'} end

local now = now_ms()
-- An expired session is gone for good: a heartbeat must never revive it,
-- because its seat may already belong to someone else.
if tonumber(score) <= now then
  drop_session(k, token, 'expired', tonumber(score))
  return {'not_found'}
end

local m = redis.call('HMGET', meta, 'status', 'tstatus', 'exp', 'ttl', 'tenant', 'pu')
if not m[1] then return {'no_meta'} end
local exp, ttl = tonumber(m[3]), tonumber(m[4])
if license_state(m[1], m[2], exp, now) ~= 'active' then
  drop_session(k, token, 'revoked', now)
  return {'inactive'}
end

local expiry = session_expiry(now, ttl, exp)
redis.call('ZADD', live, 'XX', expiry, token)
local fp = ''
local ok, doc = pcall(cjson.decode, redis.call('HGET', info, token) or '{}')
if ok and type(doc) == 'table' and doc.fp then fp = doc.fp end
return {'ok', expiry, ttl, m[5] or '', fp, tonumber(m[6] or '0')}
