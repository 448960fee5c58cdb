-- Delete a token record (access token or family) only if the given client owns it.
-- KEYS[1]  record key
-- ARGV[1]  client id, or "" for any owner
-- ARGV[2]  1-based index of the client id in the record's JSON array
-- returns  1 deleted, 0 absent or owned by another client
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if ARGV[1] ~= '' and cjson.decode(v)[tonumber(ARGV[2])] ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
