-- On a Cluster, after each member was ended: drop those members from the owner index and announce the owner.
-- Members listed meanwhile (a grant issued during the revocation) stay listed.
-- KEYS[1]  the owner index   ARGV[1]  the revocation channel   ARGV[2]  the announcement   ARGV[3..]  members
for i = 3, #ARGV do
  for _, key in ipairs(grant_path(KEYS[1], ARGV[i])) do redis.call('ZREM', key, ARGV[i]) end
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
