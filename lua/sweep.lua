-- Sweep a bounded batch of expired sessions of one license, recording each
-- as expired (or, released into a linger, as linger_ended) at the moment
-- its lease ran out, and drop the tombstones of ended sessions that would
-- have expired by now (a heartbeat of one of them is answered not found
-- either way). A license that revives (meta rv, seconds) keeps a session
-- that expired less than that ago for its heartbeat to revive; it counts
-- for nothing meanwhile (counts start after now), and is swept, recorded
-- as expired at its lease's end all the same, once the window passes.
-- KEYS: 1 live, 2 info, 3 users, 4 events, 5 ended, 6 meta, 7 ov (a
--       dropped entitled session promotes the oldest overage one, at its
--       lease's end, see common.lua)
-- ARGV: 1 most sessions to drop in this call (keeps every call short)
-- Returns {dropped, more (1 when expired sessions remain), ledger length}.
local ended = KEYS[5]
local k = {live = KEYS[1], info = KEYS[2], users = KEYS[3], events = KEYS[4], meta = KEYS[6], ov = KEYS[7]}
local limit = tonumber(ARGV[1])
local now = now_ms()
-- A metadata key Redis cannot read as a hash (damaged) must not stop the
-- sweep of the license's dead sessions: it then revives nothing.
local rv = redis.pcall('HGET', KEYS[6], 'rv')
if type(rv) ~= 'string' then rv = '0' end
local cutoff = now - (tonumber(rv) or 0) * 1000
local dead = redis.call('ZRANGEBYSCORE', k.live, '-inf', cutoff, 'WITHSCORES', 'LIMIT', 0, limit)
local dropped = 0
for i = 1, #dead, 2 do
  dropped = dropped + drop_session(k, dead[i], 'expired', tonumber(dead[i + 1]))
end
local more = 0
if #dead / 2 == limit and redis.call('ZCOUNT', k.live, '-inf', cutoff) > 0 then more = 1 end
redis.call('ZREMRANGEBYSCORE', ended, '-inf', now)
return {dropped, more, redis.call('XLEN', k.events)}
