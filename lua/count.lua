-- Count live sessions.
-- KEYS: 1 live
return redis.call('ZCOUNT', KEYS[1], '(' .. now_ms(), '+inf')
