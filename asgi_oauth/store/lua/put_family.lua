-- Create a token family and its first access token together.
-- KEYS[1]  family key        KEYS[2]  access token key     KEYS[3]  family's access-token index
-- ARGV[1]  family record     ARGV[2]  family ttl ms
-- ARGV[3]  access record     ARGV[4]  access ttl ms
-- ARGV[5]  access digest     ARGV[6]  access expiry (epoch ms)
-- KEYS[4..] owner indexes (client's, user's; none on a Cluster)   ARGV[7]  their member   ARGV[8]  its expiry (ms)
-- ARGV[9]  now (epoch ms)
store_family(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
list_grant(4, 7)
return 1
