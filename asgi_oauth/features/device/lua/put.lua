-- Store a new device authorization (RFC 8628), pending, as one hash with its time to live.
-- KEYS[1]  device hash
-- ARGV[1]  the DEVICE record     ARGV[2]  poll interval (s)     ARGV[3]  ttl ms (past the code's expiry)
-- returns  1
redis.call('HSET', KEYS[1], 'grant', ARGV[1], 'status', 'pending', 'interval', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
