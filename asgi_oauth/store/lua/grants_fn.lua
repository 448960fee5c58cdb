-- Owner indexes: what a user and a client hold (prepended by RedisStore, not run on its own; end_grant needs
-- revoke_family). An index is a tree of sorted sets (below) of members scored by expiry (ms): "F" (a family, or
-- the tokens a code redemption stored without one), "F:a:<digest>" (a lone access token), "F:c:<digest>" (a
-- pending code), "F:<kind>:<digest>" (what a feature lists, in the key head .. F .. member tail .. kind .. ':' ..
-- digest; the device flow's approved authorizations are "d").

-- An index is split into buckets of at most GRANT_BUCKET members, so that each stays in Redis' compact
-- (listpack) encoding: one big sorted set costs twice the memory per member. A bucket that grows past it is
-- split: its members move to child buckets, one per next character of their family id (the root's children are
-- root .. ':' .. c, theirs root .. ':' .. c .. c2, ...), and the bucket keeps only the marker GRANT_SPLIT, scored
-- by (at least) the latest expiry below it. An index written before buckets existed is a root that was never
-- split; it splits at its next listing. Readers walk the markers (grant_buckets).
local GRANT_BUCKET, GRANT_DEPTH, GRANT_SPLIT, GRANT_SLACK = 128, 3, '~', 3600000
local GRANT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

local function keep_until(key, ttl)
  if ttl > 0 and redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

-- The bucket of index `root` at `depth` (1 and more) that holds `member`: named by its first `depth` characters.
local function grant_bucket(root, member, depth)
  return root .. ':' .. string.sub(member, 1, depth)
end

-- The buckets of index `root` on the way to the one that holds `member`, root first, that one last; and the
-- scores of the markers passed (what each covers until).
local function grant_path(root, member)
  local path, covered, key = {root}, {}, root
  while #path <= GRANT_DEPTH do
    local until_ms = redis.call('ZSCORE', key, GRANT_SPLIT)
    if not until_ms then break end
    covered[#path] = tonumber(until_ms)
    key = grant_bucket(root, member, #path)
    path[#path + 1] = key
  end
  return path, covered
end

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

local function split_bucket(root, key, depth, now)
  local entries, latest = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES'), 0
  for j = 1, #entries, 2 do
    local member, score = entries[j], tonumber(entries[j + 1])
    if member ~= GRANT_SPLIT then
      local child = grant_bucket(root, member, depth + 1)
      redis.call('ZADD', child, entries[j + 1], member)
      keep_until(child, score - now)
      if score > latest then latest = score end
    end
  end
  redis.call('DEL', key)
  redis.call('ZADD', key, latest, GRANT_SPLIT)
  keep_until(key, latest - now)
end

-- List `member` until `exp` (ms) in every owner index from KEYS[first] on; entries past their expiry are dropped
-- from its bucket first, so an index holds only what lives. A score only grows (a rotation extends a family),
-- and so does each bucket's TTL, which covers its longest-lived member (a marker's: everything below it).
local function list_grant(first, member, exp, now)
  for i = first, #KEYS do
    local path, covered = grant_path(KEYS[i], member)
    for j = 1, #path - 1 do  -- a marker on the way must outlive what is below it: pushed an hour past when due
      if covered[j] < exp then
        redis.call('ZADD', path[j], exp + GRANT_SLACK, GRANT_SPLIT)
        keep_until(path[j], exp + GRANT_SLACK - now)
      end
    end
    local key = path[#path]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    redis.call('ZADD', key, 'GT', exp, member)
    keep_until(key, exp - now)
    if #path <= GRANT_DEPTH and redis.call('ZCARD', key) > GRANT_BUCKET then
      split_bucket(KEYS[i], key, #path - 1, now)
    end
  end
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
