-- Spend an authorization code once; a second spend revokes the family issued from it.
-- KEYS[1]  code key          KEYS[2]  family key          KEYS[3]  family's access-token index
-- ARGV[1]  replay window in milliseconds (how long the spent marker is kept)
-- returns  the code record; "replayed"; or nil when unknown or expired
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v == 'spent' or v == 'replayed' then
  redis.call('SET', KEYS[1], 'replayed', 'PX', ARGV[1])
  revoke_family(KEYS[2], KEYS[3])
  return 'replayed'
end
redis.call('SET', KEYS[1], 'spent', 'PX', ARGV[1])
return v
