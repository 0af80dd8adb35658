-- End sessions on an operator's word: one session, or every live session
-- of the license (incident response: every client must acquire again,
-- which also resets the per-user bindings). Each is recorded as revoked
-- with the reason and the actor, and tombstoned so its next heartbeat
-- answers that it was revoked.
-- A borrowed session is not ended: it keeps counting until its borrow's
-- end and is listed as a revoked borrow (see revoke_session in common.lua);
-- it counts as revoked here.
-- KEYS: 1 live, 2 info, 3 users, 4 events, 5 ended, 6 ov, 7 meta (an
--       ended entitled session promotes the oldest overage one, see
--       common.lua), 8 rb (the revoked borrows)
-- ARGV: 1 session digest, or '' for every session, 2 reason, 3 actor
-- Returns the number of live sessions ended (0: the one named is not live).
local live = KEYS[1]
local k = {live = KEYS[1], info = KEYS[2], users = KEYS[3], events = KEYS[4], ended = KEYS[5], ov = KEYS[6], meta = KEYS[7], rb = KEYS[8]}
local token, reason, actor = ARGV[1], ARGV[2], ARGV[3]
local now = now_ms()

if token ~= '' then
  local score = redis.call('ZSCORE', live, token)
  if not score or tonumber(score) <= now then return 0 end
  return revoke_session(k, token, tonumber(score), 'r', reason, actor, now)
end

local n = 0
local rows = redis.call('ZRANGEBYSCORE', live, '(' .. now, '+inf', 'WITHSCORES')
for i = 1, #rows, 2 do
  n = n + revoke_session(k, rows[i], tonumber(rows[i + 1]), 'r', reason, actor, now)
end
return n
