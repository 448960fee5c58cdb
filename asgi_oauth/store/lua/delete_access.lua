-- Delete one access token if the given client owns it, and what was exchanged for it (end_exchanged).
-- KEYS     the token's record under each name it may have (Keys.access, then Keys.access_as_before)
-- ARGV[1]  client id        ARGV[2]  the revocation channel      ARGV[3]  what to announce ("access:<family>:<name>")
-- ARGV[4]  the family's access-key prefix   ARGV[5]  its exchange-index prefix   ARGV[6]  the family id
-- ARGV[7]  the token's name
-- returns  1 deleted, 2 deleted with tokens exchanged for it, 0 absent or owned by another client
local deleted = 0
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v and field(cjson.decode(v), ACCESS.client_id) == ARGV[1] then deleted = deleted + redis.call('DEL', key) end
end
if deleted == 0 then return 0 end
redis.call('PUBLISH', ARGV[2], ARGV[3])
if end_exchanged(ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[2]) > 0 then return 2 end
return 1
