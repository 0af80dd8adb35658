-- End a session.
-- KEYS: 1 live, 2 info, 3 users, 4 events
-- ARGV: 1 session digest
-- Returns 1 when a live session was released, 0 when it was already gone
-- (unknown or expired; an expired leftover is cleaned up, and recorded as
-- expired, all the same).
local k = {live = KEYS[1], info = KEYS[2], users = KEYS[3], events = KEYS[4]}
local token = ARGV[1]

local score = redis.call('ZSCORE', k.live, token)
if not score then return 0 end
local now = now_ms()
local was_live = tonumber(score) > now
end_session(k, token, score, 'released', now)
if was_live then return 1 end
return 0
