-- Shared by the scripts that create a family (prepended to them by RedisStore, not run on its own).
-- Stores the family record (skipped when empty: a code exchange without a refresh token) and its first
-- access token, and lists the token in the family's index, which lives as long as the family.
local function store_family(family_key, access_key, index_key, family, family_ttl, access, access_ttl, digest, exp)
  if family ~= '' then redis.call('SET', family_key, family, 'PX', family_ttl) end
  redis.call('SET', access_key, access, 'PX', access_ttl)
  redis.call('ZADD', index_key, exp, digest)
  redis.call('PEXPIRE', index_key, family_ttl)
end
