-- Replace the family's current refresh token and add an access token (compare-and-set).
-- KEYS[1]  family key        KEYS[2]  spent marker for the replaced refresh token
-- KEYS[3]  new access token key                          KEYS[4]  family's access-token index
-- ARGV[1]  the refresh digest that must be current: the presented one, or in a grace-period retry the one
--          whose answer was lost
-- ARGV[2]  new family record ARGV[3]  family ttl ms
-- ARGV[4]  access record     ARGV[5]  access ttl ms
-- ARGV[6]  access digest     ARGV[7]  access expiry (epoch ms)     ARGV[8]  now (epoch ms)
-- ARGV[9]  the new record's refresh digest                       ARGV[10] the family's access-key prefix
-- ARGV[11] the family id      ARGV[12] the revocation channel
-- KEYS[5..] owner indexes (client's, user's; none on a Cluster)   ARGV[13] their member (the family id)
-- ARGV[14] the family's new expiry (ms): the rotation extends its listing    ARGV[15] now (epoch ms)
-- returns  1 rotated (or this very rotation had already run: a resent script); 0 no such family;
--          -1 the expected token was not current: reuse, family revoked
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local current = field(cjson.decode(v), FAMILY.refresh_digest)
if current == ARGV[9] then return 1 end
if current ~= ARGV[1] then
  revoke_family(KEYS[1], KEYS[4], ARGV[10], ARGV[11], ARGV[12])
  return -1
end
local left = redis.call('PTTL', KEYS[1])
if left > 0 then redis.call('SET', KEYS[2], '1', 'PX', left) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', ARGV[8])
redis.call('ZADD', KEYS[4], ARGV[7], ARGV[6])
redis.call('PEXPIRE', KEYS[4], ARGV[3])
list_grant(5, 13)
return 1
