-- Return a borrowed session early: its seat frees at once (no linger), the
-- ledger records returned, and, as any entitled seat leaving, it promotes
-- the oldest overage session (see common.lua).
-- KEYS: 1 live, 2 info, 3 users, 4 events, 5 ov, 6 meta, 7 bw (the
--       borrowed sessions), 8 rb (the revoked borrows), 9 rp (the return
--       proofs used)
-- ARGV: 1 session digest, 2 the device key (must still be the one the
--       session is borrowed under), 3 the proof's id, 4 until when the
--       proof is remembered (ms)
-- Returns {'proof_used'} (checked first: a replay after the session is
-- gone is a replay, not an unknown session), {'not_found'},
-- {'not_borrowed'}, {'other_device'} or {'returned'}. A proof is used
-- only by a return that frees the seat.
local live, info, bw, rb, rp = KEYS[1], KEYS[2], KEYS[7], KEYS[8], KEYS[9]
local k = {live = KEYS[1], info = KEYS[2], users = KEYS[3], events = KEYS[4], ov = KEYS[5], meta = KEYS[6]}
local token, device, proof, remember = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now = now_ms()

redis.call('ZREMRANGEBYSCORE', rp, '-inf', now)
if redis.call('ZSCORE', rp, proof) then return {'proof_used'} end
local score = redis.call('ZSCORE', live, token)
if not score or tonumber(score) <= now then return {'not_found'} end
local raw = redis.call('HGET', info, token)
local ok, doc = pcall(cjson.decode, raw or '')
if not ok or type(doc) ~= 'table' or doc.lg then return {'not_found'} end
if not doc.bw then return {'not_borrowed'} end
if doc.dk ~= device then return {'other_device'} end

if remember < now then remember = now end
redis.call('ZADD', rp, remember, proof)
redis.call('ZREM', bw, token)
redis.call('ZREM', rb, token)
drop_read(k, token, raw, 'returned', now)
return {'returned'}
