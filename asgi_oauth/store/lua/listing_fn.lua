-- Owner indexes: what a user and a client hold, and how a grant is listed in them (prepended by RedisStore to
-- the scripts that list, not run on its own; grants_fn.lua reads and ends what they hold). An index is a tree of
-- sorted sets (below) of members scored by expiry (ms): "F" (a family, or the tokens a code redemption stored
-- without one), "F:a:<digest>" (a lone access token), "F:c:<digest>" (a pending code), "F:<kind>:<digest>" (what
-- a feature lists, in the key head .. F .. member tail .. kind .. ':' .. digest; the device flow's approved
-- authorizations are "d").

-- An index is split into buckets of at most GRANT_BUCKET members, so that each stays in Redis' compact
-- (listpack) encoding: one big sorted set costs twice the memory per member. A bucket that grows past it is
-- split: its members move to child buckets, one per next character of their family id (the root's children are
-- root .. ':' .. c, theirs root .. ':' .. c .. c2, ...), and the bucket keeps only the marker GRANT_SPLIT, scored
-- by (at least) the latest expiry below it. An index written before buckets existed is a root that was never
-- split; it splits at its next listing. Readers walk the markers (grant_buckets).
local GRANT_BUCKET, GRANT_DEPTH, GRANT_SPLIT, GRANT_SLACK = 128, 3, '~', 3600000
-- A bucket that members are listed in outlives its latest one by up to a minute: its TTL is then set once a
-- minute, not at every listing (dead members are dropped at the next listing either way).
local GRANT_LEAF_SLACK = 60000
local GRANT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

-- Make `key` live at least `ttl` ms, and then `slack` ms more (none if not given).
local function keep_until(key, ttl, slack)
  if ttl > 0 and redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl + (slack or 0)) end
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

-- List a member in every owner index from KEYS[first] on: ARGV[at] names it, ARGV[at + 1] is its expiry and
-- ARGV[at + 2] now (epoch ms). Entries past their expiry are dropped from its bucket first, so an index holds
-- only what lives. A score only grows (a rotation extends a family), and so does each bucket's TTL, which covers
-- its longest-lived member (a marker's: everything below it). The leaf's commands take the arguments' text as
-- it came: a Lua number would be printed again for each.
local function list_grant(first, at)
  local member, exp_text, now_text = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local exp, now = tonumber(exp_text), tonumber(now_text)
  for i = first, #KEYS do
    local path, covered = grant_path(KEYS[i], member)
    for j = 1, #path - 1 do  -- a marker on the way must outlive what is below it: pushed an hour past when due
      if covered[j] < exp then
        redis.call('ZADD', path[j], exp + GRANT_SLACK, GRANT_SPLIT)
        keep_until(path[j], exp + GRANT_SLACK - now)
      end
    end
    local key = path[#path]
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now_text)
    redis.call('ZADD', key, 'GT', exp_text, member)
    keep_until(key, exp - now, GRANT_LEAF_SLACK)
    if #path <= GRANT_DEPTH and redis.call('ZCARD', key) > GRANT_BUCKET then
      split_bucket(KEYS[i], key, #path - 1, now)
    end
  end
end
