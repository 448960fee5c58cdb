-- Shared by the scripts that spend an authorization code (prepended by RedisStore, not run on its own;
-- needs revoke_family). Marks an unspent code spent: "spent:<redemption>" when it is redeemed (the access
-- digest it issued), plain "spent" when it is burnt by a failed exchange. A spent code seen again is a replay:
-- it is marked "replayed" and the family issued from it is revoked. Either marker is kept `window` ms.
-- The same redemption run twice (a script resent after its reply was lost) is no replay: "again".
-- returns  the code record when it was unspent; "again"; "replayed"; or false when unknown or expired
local function spend_code(code_key, family_key, index_key, access_prefix, window, redemption, family_id, channel)
  local v = redis.call('GET', code_key)
  if not v then return false end
  if redemption ~= '' and v == 'spent:' .. redemption then return 'again' end
  if v == 'replayed' or string.sub(v, 1, 5) == 'spent' then
    redis.call('SET', code_key, 'replayed', 'PX', window)
    revoke_family(family_key, index_key, access_prefix, family_id, channel)
    return 'replayed'
  end
  local marker = 'spent'
  if redemption ~= '' then marker = 'spent:' .. redemption end
  redis.call('SET', code_key, marker, 'PX', window)
  return v
end
