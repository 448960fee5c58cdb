-- Shared by the scripts that spend an authorization code (prepended by RedisStore, not run on its own;
-- needs revoke_family). Marks an unspent code "spent"; a spent one is a replay: it is marked "replayed"
-- and the family issued from it is revoked. Either marker is kept for `window` milliseconds.
-- returns  the code record when it was unspent; "replayed"; or false when unknown or expired
local function spend_code(code_key, family_key, index_key, window)
  local v = redis.call('GET', code_key)
  if not v then return false end
  if v == 'spent' or v == 'replayed' then
    redis.call('SET', code_key, 'replayed', 'PX', window)
    revoke_family(family_key, index_key)
    return 'replayed'
  end
  redis.call('SET', code_key, 'spent', 'PX', window)
  return v
end
