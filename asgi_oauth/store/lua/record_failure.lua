-- Count one failed attempt in every bucket that applies; say how long the attempt is now blocked.
-- KEYS and buckets as in check_limits; ARGV[1]  now (ms)   ARGV[2]  a unique member name
-- A full bucket is not added to, so attempts refused at the limit do not extend the block.
-- returns  milliseconds until the oldest failure of a full bucket leaves its window; 0 when none is full
local now, wait = tonumber(ARGV[1]), 0
each_bucket(3, function(key, window, limit)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then redis.call('ZADD', key, now, ARGV[2]) end
  redis.call('PEXPIRE', key, window)
  wait = math.max(wait, blocked_ms(key, now, window, limit))
end)
return wait
