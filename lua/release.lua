-- End a session.
-- KEYS: 1 live, 2 leases, 3 info, 4 users
-- ARGV: 1 session token
-- Returns 1 when a live session was released, 0 when it was already gone
-- (unknown or expired; an expired leftover is cleaned up all the same).
local live, leases, info, users = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local token = ARGV[1]

local score = redis.call('ZSCORE', live, token)
if not score then return 0 end
local was_live = tonumber(score) > now_ms()
drop_session(live, leases, info, users, token)
if was_live then return 1 end
return 0
