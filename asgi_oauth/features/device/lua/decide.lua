-- The user's decision on a pending device authorization. An approval is listed in its owners' indexes (as
-- put_code.lua lists a code), so revoking the user or the client before the device redeems it ends it too.
-- KEYS[1]  device hash       KEYS[2..]  owner indexes when approving (none on a Cluster: listed apart)
-- ARGV[1]  now (ms)      ARGV[2]  'approved' or 'denied'       ARGV[3]  the user's sub     ARGV[4]  user name or ''
-- ARGV[5..7]  when approving: owner index member, its expiry (ms), now (ms)
-- returns  1 decided (or this very decision was made already); 0 gone, expired or decided otherwise
local h = redis.call('HMGET', KEYS[1], 'grant', 'status', 'sub')
if not h[1] then return 0 end
if h[2] == ARGV[2] and h[3] == ARGV[3] then return 1 end
if h[2] ~= 'pending' or field(cjson.decode(h[1]), DEVICE.exp_ms) <= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'sub', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'username', ARGV[4]) end
if ARGV[2] == 'approved' then list_grant(2, 5) end
return 1
