-- End a holder's hold on a session: the session itself, unless it is a
-- shared seat that other holders still hold (see common.lua).
-- KEYS: 1 live, 2 info, 3 users, 4 events
-- ARGV: 1 session digest, 2 the instance releasing ('' none: the anonymous
--       holder; read only for a shared seat)
-- Returns 1 when the caller's hold ended and with it the session (the seat
-- is free), 2 when the caller's hold ended and other holders keep the
-- seat, 0 when the caller held nothing (unknown, expired, or not among a
-- shared seat's live holders; an expired leftover is cleaned up, and
-- recorded as expired, all the same). Holders coming and going are not
-- seat events: the ledger sees the session start and end only.
local k = {live = KEYS[1], info = KEYS[2], users = KEYS[3], events = KEYS[4]}
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
-- A plain session's info is not decoded twice: only a shared seat's
-- holds ho.
if raw and string.find(raw, '"ho":', 1, true) then
  local ok, doc = pcall(cjson.decode, raw)
  if ok and type(doc) == 'table' and type(doc.ho) == 'table' then
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
end
drop_read(k, token, raw, 'released', now)
return 1
