-- Spend an authorization code and store what it issues, in one step: of concurrent redemptions one wins.
-- KEYS[1]  code key          KEYS[2]  family key          KEYS[3]  access token key
-- KEYS[4]  family's access-token index
-- ARGV[1]  replay window ms (how long the spent marker is kept)
-- ARGV[2]  family record, or '' when no refresh token is issued          ARGV[3]  family (index) ttl ms
-- ARGV[4]  access record     ARGV[5]  access ttl ms
-- ARGV[6]  access digest     ARGV[7]  access expiry (epoch ms)
-- ARGV[8]  the family's access-key prefix       ARGV[9]  the family id      ARGV[10] the revocation channel
-- KEYS[5..] owner indexes (client's, user's; none on a Cluster)   ARGV[11] their member   ARGV[12] its expiry (ms)
-- ARGV[13] now (epoch ms)
-- returns  1 redeemed (or this very redemption had already run); 0 unknown or expired;
--          -1 already spent: a replay, so the family is revoked
local v = spend_code(KEYS[1], KEYS[2], KEYS[4], ARGV[8], ARGV[1], ARGV[6], ARGV[9], ARGV[10])
if not v then return 0 end
if v == 'again' then return 1 end
if v == 'replayed' then return -1 end
store_family(KEYS[2], KEYS[3], KEYS[4], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
list_grant(5, 11)
return 1
