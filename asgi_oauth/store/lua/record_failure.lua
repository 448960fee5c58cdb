-- Record one failed attempt in a sliding window; say how long the key is blocked.
-- KEYS[1]  sorted set of failure times (ms)
-- ARGV[1]  now (ms)   ARGV[2]  window (ms)   ARGV[3]  limit   ARGV[4]  a unique member name
-- returns  milliseconds until the oldest failure in the window leaves it, once `limit` is reached; else 0
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  n = n + 1
end
redis.call('PEXPIRE', KEYS[1], window)
if n < limit then return 0 end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
