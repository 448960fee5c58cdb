-- How long a key is blocked, without recording anything.
-- KEYS[1]  sorted set of failure times (ms)
-- ARGV[1]  now (ms)   ARGV[2]  window (ms)   ARGV[3]  limit
-- returns  milliseconds until an attempt is allowed again; 0 when allowed now
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local recent = redis.call('ZRANGEBYSCORE', KEYS[1], now - window, '+inf', 'WITHSCORES')
if #recent / 2 < limit then return 0 end
return math.max(1, tonumber(recent[2]) + window - now)
