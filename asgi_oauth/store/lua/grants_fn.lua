-- Reading and ending what owner indexes hold (prepended by RedisStore after listing_fn.lua, whose layout and
-- constants it walks, and revoke_family_fn.lua, which end_grant calls; not run on its own). Kept apart from the
-- listing functions so that an issuing script, run on every token, does not define these each time.

-- Every bucket of index `root` (markers included), root first.
local function grant_buckets(root)
  local buckets, at = {root}, 1
  while at <= #buckets do
    local key = buckets[at]
    if redis.call('ZSCORE', key, GRANT_SPLIT) then
      local base = key == root and root .. ':' or key
      for c = 1, #GRANT_CHARS do buckets[#buckets + 1] = base .. string.sub(GRANT_CHARS, c, c) end
    end
    at = at + 1
  end
  return buckets
end

-- Every member of index `root` and every bucket key it uses.
local function grant_members(root)
  local members, buckets = {}, grant_buckets(root)
  for _, key in ipairs(buckets) do
    for _, member in ipairs(redis.call('ZRANGE', key, 0, -1)) do
      if member ~= GRANT_SPLIT then members[#members + 1] = member end
    end
  end
  return members, buckets
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
    end_exchanged(p[1] .. f .. p[4], p[1] .. f .. p[5] .. 'e:', f, digest, channel)
    return 1
  end
  -- A code (never redeemed now; its spent marker is the same key) or what a feature listed (an approved device
  -- authorization: the device's next poll is refused; one that already redeemed it stored a family, listed on
  -- its own and ended above).
  redis.call('DEL', p[1] .. f .. p[5] .. kind .. ':' .. digest)
  return 0
end
