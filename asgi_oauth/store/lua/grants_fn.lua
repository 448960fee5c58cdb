-- Owner indexes: what a user and a client hold (prepended by RedisStore, not run on its own; end_grant needs
-- revoke_family). An index is a sorted set of members scored by expiry (ms): "F" (a family, or the tokens a
-- code redemption stored without one), "F:a:<digest>" (a lone access token), "F:c:<digest>" (a pending code),
-- "F:<kind>:<digest>" (what a feature lists, in the key head .. F .. member tail .. kind .. ':' .. digest; the
-- device flow's approved authorizations are "d").

-- List `member` until `exp` (ms) in every owner index from KEYS[first] on; entries past their expiry are dropped
-- first, so an index holds only what lives. A score only grows (a rotation extends a family), and so does the
-- index's TTL, which covers its longest-lived member.
local function list_grant(first, member, exp, now)
  for i = first, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    redis.call('ZADD', KEYS[i], 'GT', exp, member)
    local ttl = exp - now
    if ttl > 0 and redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end

-- End what one member names, announcing it on `channel` as every revocation is; `p` holds the key parts
-- ({head, family tail, index tail, access tail, member tail}: a key is head .. F .. tail [.. digest]).
-- returns  1 when something lived (a family's tokens, a lone access token), else 0; codes and features' count 0
local function end_grant(member, p, channel)
  local f, kind, digest = string.match(member, '^([^:]+):(%a):(.+)$')
  if not f then
    local gone = revoke_family(p[1] .. member .. p[2], p[1] .. member .. p[3], p[1] .. member .. p[4], member, channel)
    return gone > 0 and 1 or 0
  end
  if kind == 'a' then
    if redis.call('DEL', p[1] .. f .. p[4] .. digest) == 0 then return 0 end
    redis.call('PUBLISH', channel, 'access:' .. f .. ':' .. digest)
    return 1
  end
  -- A code (never redeemed now; its spent marker is the same key) or what a feature listed (an approved device
  -- authorization: the device's next poll is refused; one that already redeemed it stored a family, listed on
  -- its own and ended above).
  redis.call('DEL', p[1] .. f .. p[5] .. kind .. ':' .. digest)
  return 0
end
