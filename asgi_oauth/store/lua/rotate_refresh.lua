-- Swap the family's current refresh token for a new one and add an access token (compare-and-set).
-- KEYS[1]  family key        KEYS[2]  spent marker for the old refresh token
-- KEYS[3]  new access token key
-- ARGV[1]  old refresh digest (must be current)
-- ARGV[2]  new family record ARGV[3]  family ttl ms
-- ARGV[4]  access record     ARGV[5]  access ttl ms
-- returns  1 rotated; 0 no such family; -1 old token was not current: reuse, family deleted
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if cjson.decode(v)[1] ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return -1
end
local left = redis.call('PTTL', KEYS[1])
if left > 0 then redis.call('SET', KEYS[2], '1', 'PX', left) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
return 1
