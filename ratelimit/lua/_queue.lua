-- Batch queue prelude, prepended to every queue_*.lua (see ratelimit/queue.py).
-- admitted (hash): batch key -> tokens of an admitted batch not yet released.
-- lowered (string): the limit believed after the server refused a batch; its expiry is the hold.
-- The sum over admitted is O(batches in flight): a few hundred at most, each of many tokens.

local function in_use(admitted)
  local used = 0
  for _, tokens in ipairs(redis.call('HVALS', admitted)) do used = used + tonumber(tokens) end
  return used
end

local function limit_now(lowered, configured)
  return math.min(configured, tonumber(redis.call('GET', lowered) or configured))
end

local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end

-- Keep an idle queue's hash for idle_ms after its last write: longer than any batch can live.
local function touch(admitted, idle_ms)
  if redis.call('EXISTS', admitted) == 1 then redis.call('PEXPIRE', admitted, idle_ms) end
end

-- {in use, effective limit, configured, batches, lowered until (ms, Redis clock; -1: none)}
local function snapshot(admitted, lowered, configured)
  local ttl = redis.call('PTTL', lowered)
  local until_ms = -1
  if ttl > 0 then until_ms = now_ms() + ttl end
  return {in_use(admitted), limit_now(lowered, configured), configured, redis.call('HLEN', admitted), until_ms}
end
