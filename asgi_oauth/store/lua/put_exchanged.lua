-- Store an access token exchanged (RFC 8693) for another of its family, only while that one lives, and list it
-- where ending that one finds it: that token's exchange index, the family's index (when the family has one, so
-- that revoking the family ends it) and its owners' indexes. Sent again after a lost reply, it stores the same.
-- KEYS[1]  the new token's key    KEYS[2], KEYS[3]  the subject token's key under each name it may have
-- KEYS[4]  the subject's exchange index    KEYS[5]  the family's index    KEYS[6..]  owner indexes (none on a
-- Cluster: listed apart)
-- ARGV[1]  access record   ARGV[2]  ttl ms   ARGV[3]  the new token's name   ARGV[4]  owner index member
-- ARGV[5]  expiry (epoch ms)   ARGV[6]  now (epoch ms)
-- returns  1 stored, 0 the subject token is gone (revoked or expired): nothing stored
if redis.call('EXISTS', KEYS[2], KEYS[3]) == 0 then return 0 end
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[3])
keep_until(KEYS[4], ttl)
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('ZADD', KEYS[5], ARGV[5], ARGV[3])
  keep_until(KEYS[5], ttl)
end
list_grant(6, 4)
return 1
