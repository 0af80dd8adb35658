-- End a holder's hold on a session: the session itself, unless it is a
-- shared seat that other holders still hold (see common.lua), or the
-- license lingers.
-- KEYS: 1 live, 2 info, 3 users, 4 events, 5 meta, 6 ov (the overage
--       sessions: an entitled seat that frees promotes the oldest, see
--       common.lua)
-- ARGV: 1 session digest, 2 the instance releasing ('' none: the anonymous
--       holder; read only for a shared seat)
-- Returns 1 when the caller's hold ended and with it the session (the seat
-- is free), 2 when the caller's hold ended and other holders keep the
-- seat, {3, linger_end_ms} when the caller's hold ended and the seat
-- lingers until then (the license's linger_seconds, never past its
-- expiry), 0 when the caller held nothing (unknown, expired, lingering
-- already, or not among a shared seat's live holders; an expired leftover
-- is cleaned up, and recorded as expired, all the same), {4} when the
-- session is borrowed (see common.lua: only a return ends it early). Holders coming and
-- going are not seat events: the ledger sees the session start and end
-- only, and a release into a linger as released with reason linger (the
-- linger's end is recorded as linger_ended).
local k = {live = KEYS[1], info = KEYS[2], users = KEYS[3], events = KEYS[4], meta = KEYS[5], ov = KEYS[6]}
local token = ARGV[1]

local score = redis.call('ZSCORE', k.live, token)
if not score then return 0 end
local now = now_ms()
local s = tonumber(score)
local raw = redis.call('HGET', k.info, token)
if s <= now then
  drop_read(k, token, raw, 'expired', s)
  return 0
end
-- A plain session's info is not decoded twice: only a shared, a lingering
-- or a borrowed seat's holds ho, lg or bw.
local function decode()
  local ok, d = pcall(cjson.decode, raw)
  if ok and type(d) == 'table' then return d end
  return nil
end
local doc = nil
if raw and (string.find(raw, '"ho":', 1, true) or string.find(raw, '"lg":', 1, true)
    or string.find(raw, '"bw":', 1, true)) then
  doc = decode()
end
if doc and doc.bw then return {4} end
if doc and doc.lg then return 0 end
if doc and type(doc.ho) == 'table' then
  local name = ARGV[2] or ''
  if name == '' then name = ANON end
  local mine = tonumber(doc.ho[name])
  if mine == SOLE then mine = s end
  if not mine or mine <= now then return 0 end
  local holders, n = live_holders(doc.ho, now, name, s)
  if n > 0 then
    keep_holders(k, token, doc, holders)
    return 2
  end
end
-- The seat would free: unless the license lingers. (Metadata Redis cannot
-- read as a hash, damaged, must not stop a release: it then frees.)
local m = redis.pcall('HMGET', KEYS[5], 'lg', 'exp')
if type(m) ~= 'table' or m.err then m = {} end
local linger = tonumber(m[1] or '0') or 0
if linger > 0 and raw then
  local until_ms = session_expiry(now, linger, tonumber(m[2] or '0') or 0)
  doc = doc or decode()
  if doc and until_ms > now then
    doc.lg = 1
    doc.ho = nil
    redis.call('HSET', k.info, token, cjson.encode(doc))
    redis.call('ZADD', k.live, 'XX', until_ms, token)
    record(k, 'released', token, now, 'r', 'linger')
    return {3, until_ms}
  end
end
drop_read(k, token, raw, 'released', now)
return 1
