-- Sweep a bounded batch of expired sessions of one license, recording each
-- as expired at the moment its lease ran out, and drop the tombstones of
-- ended sessions that would have expired by now (a heartbeat of one of them
-- is answered not found either way).
-- KEYS: 1 live, 2 info, 3 users, 4 events, 5 ended
-- ARGV: 1 most sessions to drop in this call (keeps every call short)
-- Returns {dropped, more (1 when expired sessions remain), ledger length}.
local ended = KEYS[5]
local k = {live = KEYS[1], info = KEYS[2], users = KEYS[3], events = KEYS[4]}
local limit = tonumber(ARGV[1])
local now = now_ms()
local dead = redis.call('ZRANGEBYSCORE', k.live, '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
local dropped = 0
for i = 1, #dead, 2 do
  dropped = dropped + drop_session(k, dead[i], 'expired', tonumber(dead[i + 1]))
end
local more = 0
if #dead / 2 == limit and redis.call('ZCOUNT', k.live, '-inf', now) > 0 then more = 1 end
redis.call('ZREMRANGEBYSCORE', ended, '-inf', now)
return {dropped, more, redis.call('XLEN', k.events)}
