-- How long an attempt is blocked, without counting anything.
-- KEYS[1]  the principal's proof from this place (a string; exists when it signed in from here before)
-- KEYS[2..]  failure sorted sets
-- ARGV[1]  now (ms)   then per bucket: window (ms), limit, '1' when waived for a known place
-- returns  {milliseconds until the attempt is allowed (0: now), 1 if KEYS[1] exists else 0}
local now, wait = tonumber(ARGV[1]), 0
local known = each_bucket(2, function(key, window, limit)
  wait = math.max(wait, blocked_ms(key, now, window, limit))
end)
return {wait, known and 1 or 0}
