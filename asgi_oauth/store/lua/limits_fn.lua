-- Shared by the failed-attempt scripts (prepended by RedisStore, not run on its own). Each bucket is a sorted
-- set of failure times (ms) in KEYS[2..]; its window (ms), limit and waiver flag are ARGV[first + 3(i-2)..].
-- A bucket marked waivable is skipped when KEYS[1] (the principal's proof from this place) exists.
local function each_bucket(first, fn)
  local known = redis.call('EXISTS', KEYS[1]) == 1
  for i = 2, #KEYS do
    local at = first + 3 * (i - 2)
    if not (known and ARGV[at + 2] == '1') then
      fn(KEYS[i], tonumber(ARGV[at]), tonumber(ARGV[at + 1]))
    end
  end
  return known
end

-- Milliseconds until the oldest of `limit` failures within the window leaves it; 0 below the limit.
-- A failure exactly `window` old has left it (the bound is exclusive), as record_failure's trimming agrees.
local function blocked_ms(key, now, window, limit)
  local after = '(' .. (now - window)
  if redis.call('ZCOUNT', key, after, '+inf') < limit then return 0 end
  local oldest = redis.call('ZRANGEBYSCORE', key, after, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return math.max(1, tonumber(oldest[2]) + window - now)
end
