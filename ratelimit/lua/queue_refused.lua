-- The server refused a batch (token_limit_exceeded): drop it and believe the limit is what the
-- others hold, for at least hold (ms). An existing lower belief or longer hold is kept.
-- KEYS: admitted, lowered.  ARGV: batch key, hold (ms; 0: drop only), configured limit.
-- Returns snapshot().
local admitted, lowered = KEYS[1], KEYS[2]
local hold, configured = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('HDEL', admitted, ARGV[1])
if hold > 0 then
  local belief = math.max(0, in_use(admitted))
  local current = tonumber(redis.call('GET', lowered) or '')
  if current ~= nil and current < belief then belief = current end
  hold = math.max(hold, redis.call('PTTL', lowered))
  redis.call('SET', lowered, string.format('%d', belief), 'PX', hold)
end
return snapshot(admitted, lowered, configured)
