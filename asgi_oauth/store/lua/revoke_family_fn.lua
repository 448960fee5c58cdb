-- Shared by the scripts that end grants (prepended to them by RedisStore, not run on its own).

-- Tokens exchanged for an access token (RFC 8693) live in its family, listed in its exchange index
-- (`exchanged_prefix` .. its name). Ending the token ends them, and what was exchanged for those in turn; the
-- family is announced ("family:<id>") when any lived, so that no worker keeps one in memory.
-- returns  how many exchanged tokens lived
local function end_exchanged(access_prefix, exchanged_prefix, family_id, name, channel)
  local pending, at, ended = {name}, 1, 0
  while at <= #pending do
    local index = exchanged_prefix .. pending[at]
    for _, exchanged in ipairs(redis.call('ZRANGE', index, 0, -1)) do
      ended = ended + redis.call('DEL', access_prefix .. exchanged)
      pending[#pending + 1] = exchanged
    end
    redis.call('DEL', index)
    at = at + 1
  end
  if ended > 0 then redis.call('PUBLISH', channel, 'family:' .. family_id) end
  return ended
end

-- A family's end: deletes the family record, every access token listed in its index, and the index. The access
-- keys are `access_prefix` .. digest, the prefix given by RedisStore's key schema: they carry the family's hash tag.
-- The revocation is announced on `channel` ("family:<id>") in the same step, so no worker caching tokens can
-- miss one that committed.
local function revoke_family(family_key, index_key, access_prefix, family_id, channel)
  for _, digest in ipairs(redis.call('ZRANGE', index_key, 0, -1)) do
    redis.call('DEL', access_prefix .. digest)
  end
  redis.call('PUBLISH', channel, 'family:' .. family_id)
  return redis.call('DEL', family_key, index_key)
end
