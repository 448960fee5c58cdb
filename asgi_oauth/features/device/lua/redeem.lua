-- Issue the tokens of an approved device authorization, once: of concurrent polls exactly one gets them.
-- KEYS[1]  device hash       KEYS[2]  family key          KEYS[3]  access token key
-- KEYS[4]  family's access-token index
-- ARGV[1]  family record, or '' when no refresh token is issued          ARGV[2]  family (index) ttl ms
-- ARGV[3]  access record     ARGV[4]  access ttl ms
-- ARGV[5]  access digest     ARGV[6]  access expiry (epoch ms)
-- KEYS[5..] owner indexes (client's, user's; none on a Cluster)   ARGV[7]  their member   ARGV[8]  its expiry (ms)
-- ARGV[9]  now (epoch ms)
-- returns  1 issued (or this very redemption had already run); 0 gone or not approved; -1 issued already
local h = redis.call('HMGET', KEYS[1], 'status', 'access')
if not h[1] then return 0 end
if h[1] == 'issued' then
  if h[2] == ARGV[5] then return 1 end
  return -1
end
if h[1] ~= 'approved' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'issued', 'access', ARGV[5])
store_family(KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
list_grant(5, 7)
return 1
