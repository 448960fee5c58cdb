-- Shared by the scripts that end a family (prepended to them by RedisStore, not run on its own).
-- Deletes the family record, every access token listed in its index, and the index. The access keys are
-- `access_prefix` .. digest, the prefix given by RedisStore's key schema: they carry the family's hash tag.
local function revoke_family(family_key, index_key, access_prefix)
  for _, digest in ipairs(redis.call('ZRANGE', index_key, 0, -1)) do
    redis.call('DEL', access_prefix .. digest)
  end
  return redis.call('DEL', family_key, index_key)
end
