-- On a Cluster, end one member of an owner index (all its keys share the family's slot).
-- KEYS[1]  the member's family key (routes the call to its slot)
-- ARGV[1]  the member      ARGV[2]  the revocation channel   ARGV[3..7]  key parts, as in revoke_grants.lua
-- returns  1 when something lived, else 0
return end_grant(ARGV[1], {ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]}, ARGV[2])
