-- Create a token family and its first access token together.
-- KEYS[1]  family key        KEYS[2]  access token key     KEYS[3]  family's access-token index
-- KEYS[4]  optional: the code key, which must still say "spent" (a replay in between wins)
-- ARGV[1]  family record     ARGV[2]  family ttl ms
-- ARGV[3]  access record     ARGV[4]  access ttl ms
-- ARGV[5]  access digest     ARGV[6]  access expiry (epoch ms)
-- returns  1 stored, 0 refused because the code was replayed meanwhile
if KEYS[4] and redis.call('GET', KEYS[4]) ~= 'spent' then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[6], ARGV[5])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
