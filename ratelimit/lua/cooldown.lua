-- Make every client wait: acquire refuses until the cooldown ends. Never shortens one.
-- KEYS: cooldown, state (for the clock), history (optional).  ARGV: duration (us), history config.
-- Returns the remaining wait (us). Every call is a 429 in the history; a lengthened one a cooldown.
local cool, state = KEYS[1], KEYS[2]
local now = load(state).now
local current = tonumber(redis.call('GET', cool) or '0')
local ends = now + tonumber(ARGV[1])
local lengthened = 0
if ends > current then
  redis.call('SET', cool, string.format('%d', ends), 'PX', math.ceil((ends - now) / 1000))
  current, lengthened = ends, 1
end
history_add(KEYS[3], ARGV[2], now, {e = 1, c = lengthened}, {u = current})
return current - now
