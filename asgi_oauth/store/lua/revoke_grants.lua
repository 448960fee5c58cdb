-- End everything a user or a client holds, in one step, on one Redis server (a Cluster goes member by member).
-- KEYS[1]  the owner index (a user's or a client's)
-- ARGV[1]  the revocation channel    ARGV[2]  what to announce last ("user:<sub>" or "client:<id>")
-- ARGV[3..7]  key parts: head, then the family, index, access-prefix and member tails
-- Each family is announced ("family:<F>"), each lone access token ("access:<F>:<digest>"), then ARGV[2].
-- returns  how many grants (families, lone access tokens) still lived and are now ended
local p, ended = {ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]}, 0
local members, buckets = grant_members(KEYS[1])
for _, member in ipairs(members) do
  ended = ended + end_grant(member, p, ARGV[1])
end
for _, key in ipairs(buckets) do redis.call('DEL', key) end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return ended
