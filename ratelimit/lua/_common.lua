-- Shared prelude, prepended by the storage to every operation's script.
-- One window log per (account, model), whatever limits and window length each caller is
-- configured with: the limits and the window come as arguments, and every caller counts what
-- every caller admitted against its own (keys.py says why).
-- Window log (sorted set): score = time of Redis TIME in microseconds, member =
-- "<requests>:<tokens>:<seq>" (a phantom learned from the server's headers may carry 0 requests).
-- State (hash): r, t = totals of the whole log; lr, lt = the server's limits, learned from its
-- headers; seq = member counter; last = the latest time used, so that time never runs backwards;
-- since = the time from which the log is known to hold every admission (set when the state is
-- created; 0 once a lost window has been replaced by a phantom, see acquire.lua); span = the
-- longest window (us) a caller has used since the state was created: the log keeps entries that
-- long, and the keys live that long after the last write, so a shorter window's caller never
-- drops what a longer one still counts.
-- The log outlives the state by 100 ms: a missing state with a present log is rebuilt from
-- the log; a missing log always means the state is gone too.

local DAY_US = 86400000000
local LOG_EXTRA_MS = 100

-- The state in one read, and the clock.
local function load(state)
  local s = redis.call('HMGET', state, 'r', 't', 'lr', 'lt', 'last', 'seq', 'since', 'span')
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local last = tonumber(s[5]) or 0
  if now < last then now = last end
  return {r = tonumber(s[1]), t = tonumber(s[2]), lr = tonumber(s[3]), lt = tonumber(s[4]),
          seq = tonumber(s[6]) or 0, since = tonumber(s[7]), span = tonumber(s[8]) or 0, now = now}
end

local function weights(member)
  local r, t, seq = string.match(member, '^(%d+):(%d+):(%d+)$')
  return tonumber(r), tonumber(t), tonumber(seq)
end

-- Totals of the admissions after the cutoff, read-only: O(admissions up to the cutoff); O(log)
-- only to rebuild a lost state. Returns requests, tokens and how many admissions are not counted.
local function totals(log, st, cutoff)
  local r, t = st.r, st.t
  if r == nil or t == nil then
    r, t = 0, 0
    for _, m in ipairs(redis.call('ZRANGE', log, 0, -1)) do
      local mr, mt, seq = weights(m)
      r, t, st.seq = r + mr, t + mt, math.max(st.seq, seq)
      st.since = st.since or 0  -- a state lost alone: the log it is rebuilt from is complete
    end
  end
  local expired = redis.call('ZRANGEBYSCORE', log, '-inf', cutoff)
  for _, m in ipairs(expired) do
    local mr, mt = weights(m)
    r, t = r - mr, t - mt
  end
  return r, t, #expired
end

local function purge(log, st, cutoff)
  local r, t, expired = totals(log, st, cutoff)
  if expired > 0 then redis.call('ZREMRANGEBYSCORE', log, '-inf', cutoff) end
  st.r, st.t = r, t
  return r, t
end

-- What this caller's window holds now: drop what left the longest window in use (this one
-- included), then count what is younger than this window. O(expired) when every caller uses
-- the same window length; a shorter one also reads the entries the longer ones still hold.
local function window_totals(log, st, window)
  if window > st.span then st.span = window end
  purge(log, st, st.now - st.span)
  return totals(log, st, st.now - window)
end

-- The admissions younger than this window, oldest first, 100 at a time from offset.
local function window_entries(log, st, window, offset)
  return redis.call('ZRANGEBYSCORE', log, string.format('(%d', st.now - window), '+inf', 'WITHSCORES',
    'LIMIT', offset, 100)
end

local function effective(st, configured_r, configured_t)
  return math.min(configured_r, st.lr or configured_r), math.min(configured_t, st.lt or configured_t)
end

local function record(log, st, at, r, t)
  st.seq = st.seq + 1
  local member = string.format('%d:%d:%d', r, t, st.seq)
  redis.call('ZADD', log, at, member)
  return member
end

-- ttl_ms covers this caller's window; the keys live as much longer as the longest window in use.
local function save(log, state, st, ttl_ms, window)
  redis.call('HSET', state, 'r', st.r, 't', st.t, 'last', st.now, 'seq', st.seq, 'since', st.since or st.now,
    'span', math.max(st.span, window))
  ttl_ms = ttl_ms + math.ceil(math.max(0, st.span - window) / 1000)
  redis.call('PEXPIRE', state, ttl_ms)
  redis.call('PEXPIRE', log, ttl_ms + LOG_EXTRA_MS)
end

