-- Shared by the scripts that end a family (prepended to them by RedisStore, not run on its own).
-- Deletes the family record, every access token listed in its index, and the index. The access keys
-- are derived from the index key, so they carry the same {family} hash tag: one Cluster slot.
local function revoke_family(family_key, index_key)
  local access_prefix = string.sub(index_key, 1, -2) .. 'a:'
  for _, digest in ipairs(redis.call('ZRANGE', index_key, 0, -1)) do
    redis.call('DEL', access_prefix .. digest)
  end
  return redis.call('DEL', family_key, index_key)
end
