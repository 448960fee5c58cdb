-- Dynamically registered clients (RFC 7591): add under a cap, keep once used, delete; all in one slot.
-- KEYS[1]  the clients hash       KEYS[2]  set of dynamic client ids
-- KEYS[3]  sorted set of client ids that expire (score: expiry, ms)
-- ARGV[1]  operation   ARGV[2]  now (ms)   ARGV[3]  client id, then by operation:
--   add     ARGV[4] record  ARGV[5] limit  ARGV[6] expiry (ms; 0 never)  returns 1 added, 0 id taken, -1 full
--   create  ARGV[4] record (a client that never expires)               returns 1 created, 0 id taken
--   keep    ARGV[4] record  ARGV[5] expiry (ms; 0 never)                 returns 1 kept, 0 gone (or not dynamic)
--   delete  ARGV[4] the revocation channel ("client:<id>" is announced)  returns 1 deleted, 0 unknown
-- Every operation first removes up to 256 clients whose expiry has passed, so the count is of live clients.
-- add and create recognise their own earlier run (the very same record already stored): a resend answers 1.
local op, now, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 256)) do
  redis.call('HDEL', KEYS[1], gone)
  redis.call('SREM', KEYS[2], gone)
  redis.call('ZREM', KEYS[3], gone)
end
if (op == 'add' or op == 'create') and redis.call('HGET', KEYS[1], id) == ARGV[4] then return 1 end
if op == 'create' then return redis.call('HSETNX', KEYS[1], id, ARGV[4]) end
if op == 'add' then
  if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[5]) then return -1 end
  if redis.call('HSETNX', KEYS[1], id, ARGV[4]) == 0 then return 0 end
  redis.call('SADD', KEYS[2], id)
  if ARGV[6] ~= '0' then redis.call('ZADD', KEYS[3], ARGV[6], id) end
  return 1
elseif op == 'keep' then
  local expiry = redis.call('ZSCORE', KEYS[3], id)
  if redis.call('SISMEMBER', KEYS[2], id) == 0 or (expiry and tonumber(expiry) <= now) then return 0 end
  redis.call('HSET', KEYS[1], id, ARGV[4])
  if ARGV[5] == '0' then redis.call('ZREM', KEYS[3], id) else redis.call('ZADD', KEYS[3], ARGV[5], id) end
  return 1
end
redis.call('SREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
local deleted = redis.call('HDEL', KEYS[1], id)
if deleted == 1 then redis.call('PUBLISH', ARGV[4], 'client:' .. id) end
return deleted
