-- Shared prelude, prepended by the storage to every operation's script.
-- Window log (sorted set): score = time of Redis TIME in microseconds, member =
-- "<requests>:<tokens>:<seq>" (a phantom learned from the server's headers may carry 0 requests).
-- State (hash): r, t = totals of the log; lr, lt = limits learned from headers; seq = member
-- counter; last = the latest time used, so that time never runs backwards.

local DAY_US = 86400000000

local function clock(state)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('HGET', state, 'last') or '0')
  if now < last then now = last end
  return now
end

local function weights(member)
  local r, t, seq = string.match(member, '^(%d+):(%d+):(%d+)$')
  return tonumber(r), tonumber(t), tonumber(seq)
end

-- Totals of the admissions after the cutoff, read-only: O(expired), O(window) only to rebuild
-- a lost state hash. Also returns how many admissions have expired, and the highest member
-- counter when it had to rebuild (nil otherwise).
local function totals(log, state, cutoff)
  if redis.call('EXISTS', log) == 0 then return 0, 0, 0, nil end
  local stored = redis.call('HMGET', state, 'r', 't')
  local r, t, top = tonumber(stored[1]), tonumber(stored[2]), nil
  if r == nil or t == nil then
    r, t, top = 0, 0, 0
    for _, m in ipairs(redis.call('ZRANGE', log, 0, -1)) do
      local mr, mt, seq = weights(m)
      r, t, top = r + mr, t + mt, math.max(top, seq)
    end
  end
  local expired = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
  for _, m in ipairs(expired) do
    local mr, mt = weights(m)
    r, t = r - mr, t - mt
  end
  return r, t, #expired, top
end

local function purge(log, state, cutoff)
  local r, t, expired, top = totals(log, state, cutoff)
  if expired > 0 then redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff) end
  if top then redis.call('HSET', state, 'seq', top) end
  return r, t
end

local function effective(state, configured_r, configured_t)
  local learned = redis.call('HMGET', state, 'lr', 'lt')
  return math.min(configured_r, tonumber(learned[1]) or configured_r),
         math.min(configured_t, tonumber(learned[2]) or configured_t)
end

local function record(log, state, at, r, t)
  local seq = redis.call('HINCRBY', state, 'seq', 1)
  local member = string.format('%d:%d:%d', r, t, seq)
  redis.call('ZADD', log, at, member)
  return member
end

local function save(log, state, now, r, t, ttl_ms)
  redis.call('HSET', state, 'r', r, 't', t, 'last', now)
  redis.call('PEXPIRE', state, ttl_ms)
  if redis.call('EXISTS', log) == 1 then redis.call('PEXPIRE', log, ttl_ms) end
end

