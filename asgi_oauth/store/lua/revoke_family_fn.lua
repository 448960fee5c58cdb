-- Shared by the scripts that end a family (prepended to them by RedisStore, not run on its own).
-- Deletes the family record, every access token listed in its index, and the index. The access keys are
-- `access_prefix` .. digest, the prefix given by RedisStore's key schema: they carry the family's hash tag.
-- The revocation is announced on `channel` ("family:<id>") in the same step, so no worker caching tokens can
-- miss one that committed.
local function revoke_family(family_key, index_key, access_prefix, family_id, channel)
  for _, digest in ipairs(redis.call('ZRANGE', index_key, 0, -1)) do
    redis.call('DEL', access_prefix .. digest)
  end
  redis.call('PUBLISH', channel, 'family:' .. family_id)
  return redis.call('DEL', family_key, index_key)
end
