-- End a request's hold on its Idempotency-Key record, but only if the
-- record is still the pending one this request wrote: a request that
-- outlived its hold must not overwrite (or delete) the record of the one
-- that followed.
-- KEYS: 1 the record
-- ARGV: 1 the pending record this request wrote, 2 the finished record, or
--       "" to delete it, 3 its TTL in milliseconds
-- Returns 1 when the record was this request's (and is now finished).
local record = KEYS[1]
if redis.call('GET', record) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', record)
else
  redis.call('SET', record, ARGV[2], 'PX', ARGV[3])
end
return 1
