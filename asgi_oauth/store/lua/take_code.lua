-- Spend an authorization code once without redeeming it; a second spend revokes the family issued from it.
-- KEYS[1]  code key          KEYS[2]  family key          KEYS[3]  family's access-token index
-- ARGV[1]  replay window in milliseconds (how long the spent marker is kept)
-- ARGV[2]  the family's access-key prefix       ARGV[3]  the family id      ARGV[4]  the revocation channel
-- returns  the code record; "replayed"; or nil when unknown or expired
return spend_code(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[1], '', ARGV[3], ARGV[4])
