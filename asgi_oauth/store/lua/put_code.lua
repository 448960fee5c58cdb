-- Store an authorization code and list it in its owners' indexes, so revoking its user or client spends it.
-- KEYS[1]  code key           KEYS[2..]  owner indexes (client's, user's; none on a Cluster: listed apart)
-- ARGV[1]  code record        ARGV[2]  ttl ms     ARGV[3]  owner index member   ARGV[4]  expiry (epoch ms)
-- ARGV[5]  now (epoch ms)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
list_grant(2, 3)
return 1
