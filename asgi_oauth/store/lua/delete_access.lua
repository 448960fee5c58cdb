-- Delete one access token if the given client owns it.
-- KEYS[1]  access token key
-- ARGV[1]  client id        ARGV[2]  the revocation channel      ARGV[3]  what to announce ("access:<family>:<digest>")
-- returns  1 deleted, 0 absent or owned by another client
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if field(cjson.decode(v), ACCESS.client_id) ~= ARGV[1] then return 0 end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return redis.call('DEL', KEYS[1])
