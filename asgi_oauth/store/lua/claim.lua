-- Set a key that must not exist yet, recognising a resend of this very claim (its reply lost on the way back).
-- KEYS[1]  the key        ARGV[1]  the value, unique to this claim        ARGV[2]  time to live (ms)
-- returns  1 claimed (now, or by this same claim before), 0 held by another claim
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
