-- Make every client wait: acquire refuses until the cooldown ends. Never shortens one.
-- KEYS: cooldown, state (for the clock).  ARGV: duration (us).  Returns the remaining wait (us).
local cool, state = KEYS[1], KEYS[2]
local now = load(state).now
local current = tonumber(redis.call('GET', cool) or '0')
local ends = now + tonumber(ARGV[1])
if ends > current then
  redis.call('SET', cool, string.format('%d', ends), 'PX', math.ceil((ends - now) / 1000))
  current = ends
end
return current - now
