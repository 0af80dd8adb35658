-- The device key a live borrowed session is borrowed under (see Borrow in
-- common.lua), for the caller to verify a return proof against.
-- KEYS: 1 live, 2 info
-- ARGV: 1 session digest
-- Returns {'not_found'} (no live session, or it lingers), {'not_borrowed'}
-- or {'ok', device_key}.
local live, info = KEYS[1], KEYS[2]
local score = redis.call('ZSCORE', live, ARGV[1])
if not score or tonumber(score) <= now_ms() then return {'not_found'} end
local ok, doc = pcall(cjson.decode, redis.call('HGET', info, ARGV[1]) or '')
if not ok or type(doc) ~= 'table' or doc.lg then return {'not_found'} end
if not doc.bw or type(doc.dk) ~= 'string' then return {'not_borrowed'} end
return {'ok', doc.dk}
