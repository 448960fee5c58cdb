-- One poll of a device code: read the grant and, for a pending and unexpired one of the polling client, record
-- the poll; a poll sooner than interval - leeway after the last one raises the interval (RFC 8628 slow_down).
-- KEYS[1]  device hash
-- ARGV[1]  now (ms)      ARGV[2]  the polling client's id      ARGV[3]  slow_down step (s)   ARGV[4]  leeway (ms)
-- ARGV[5]  this poll's id: the same poll sent again (its reply lost) answers as it did, counting nothing more
-- returns  nil when unknown; else {record, status, interval, polled (ms) or nil, sub or nil, username or nil,
--          1 when the poll came too soon else 0}
local h = redis.call('HMGET', KEYS[1], 'grant', 'status', 'interval', 'polled', 'sub', 'username', 'poll', 'slow')
if not h[1] then return nil end
if h[7] == ARGV[5] then return {h[1], h[2], h[3], h[4], h[5], h[6], tonumber(h[8])} end
local now, too_soon = tonumber(ARGV[1]), 0
local grant = cjson.decode(h[1])
if h[2] == 'pending' and field(grant, DEVICE.client_id) == ARGV[2] and field(grant, DEVICE.exp_ms) > now then
  local interval = tonumber(h[3])
  if h[4] and now - tonumber(h[4]) < interval * 1000 - tonumber(ARGV[4]) then
    too_soon = 1
    interval = interval + tonumber(ARGV[3])
    h[3] = tostring(interval)
  end
  redis.call('HSET', KEYS[1], 'interval', h[3], 'polled', ARGV[1], 'poll', ARGV[5], 'slow', too_soon)
  h[4] = ARGV[1]
end
return {h[1], h[2], h[3], h[4], h[5], h[6], too_soon}
