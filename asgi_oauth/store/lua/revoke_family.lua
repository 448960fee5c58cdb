-- Revoke a family (its refresh token and every access token issued under it) if the client owns it.
-- KEYS[1]  family key        KEYS[2]  family's access-token index
-- ARGV[1]  client id, or "" for any owner                ARGV[2]  the family's access-key prefix
-- ARGV[3]  the family id      ARGV[4]  the revocation channel
-- returns  1 revoked, 0 absent or owned by another client
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if ARGV[1] ~= '' and field(cjson.decode(v), FAMILY.client_id) ~= ARGV[1] then return 0 end
revoke_family(KEYS[1], KEYS[2], ARGV[2], ARGV[3], ARGV[4])
return 1
