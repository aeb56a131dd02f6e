-- Admit 1 request + N tokens if every limit has room, else say when it would fit.
-- KEYS: log, state, cooldown, day.
-- ARGV: "requests tokens window(us) per-day(0 = none) ttl(ms) walk burst(ppm, 0 = none)" (one string: fewer
-- arguments to send), tokens asked, reserve (fraction of every limit kept free), seen (the
-- Redis time at which this client last found the state alive, us; 0 = never), pace (1 = paced,
-- 0 = this request may use the window's free capacity at once: a short job).
-- ARGV[7]: the longest wait (us) the caller would rather reserve than be refused (0 = none).
-- Returns one string (cheaper to send and parse than an array): "status wait now requests-used
-- tokens-used requests-cap tokens-cap reason member", status 1 admitted (after wait, a
-- reservation, when wait > 0), 0 refused, -1 never fits; times in microseconds; reason and
-- member may be empty.
--
-- A reservation: a wait that only the pace or the window's own log imposes, and that is no
-- longer than the caller's ARGV[7], is booked instead of refused. The admission is recorded at
-- the moment it fits (now + wait, a future score in the log) and the caller sleeps until then,
-- so the callers waiting for the next slots queue in order instead of all asking again at the
-- same moment (and most of them being refused again). Every check still counts every entry
-- scored after now - window, future ones included, so the log's guarantee holds: the last
-- admission decided into any window saw every other one in it. A cooldown (a real 429) and the
-- daily limit are never reserved through.
-- History (optional, _history.lua): KEYS[5] the history hash, ARGV[6] its config; admissions
-- and refusals are counted there.
--
-- A lost window (Redis restarted without its data): the provider still counts what we admitted
-- before, but the log is empty. A state only expires a window after its last write, so a
-- client that saw it alive less than a window ago while it now starts later than that (since >
-- seen) knows that Redis forgot it. Then the window is assumed full as of now: one phantom
-- admission of the whole limit, which leaves one window later (reason 'restart'). A brand-new
-- key has no such client and starts at full speed; clients that restart with Redis remember
-- nothing, and then the server's headers (observe.lua) and 429 cooldowns are what is left.
--
-- Pacing (burst > 0), on top of the log: a generic cell rate algorithm per limit. Each
-- admission moves a theoretical time (state fields pr, pt) on by its share of the window
-- (tokens * window / cap, the cap being the limit less the caller's reserve); a request waits
-- unless nothing is ahead of it or it ends within burst * window of now. So at most a burst's
-- share of a limit goes at once, then the limit's own rate: a backfill spreads over the window
-- instead of filling it in one rush, which the log would then make it repeat every window, a
-- little later each time (an admission is counted from when the server saw it, after it was
-- admitted), losing that much of the limit. The log stays the exact guarantee; a reserve
-- shortens the burst by its share, so callers without one find room here too. A refusal,
-- again, consumes nothing. An unpaced request (a job that fits in a window or two, which has no
-- steady state to protect) is checked by the log alone and does not move the pace on.
local log, state, cool, day = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local conf_r, conf_t, window, day_limit, ttl, walk, burst = string.match(ARGV[1],
  '^(%d+) (%d+) (%d+) (%d+) (%d+) (%d+) (%d+)$')
conf_r, conf_t, window, day_limit = tonumber(conf_r), tonumber(conf_t), tonumber(window), tonumber(day_limit)
ttl, walk, burst = tonumber(ttl), tonumber(walk), tonumber(burst) / 1000000
local tokens, keep, seen = tonumber(ARGV[2]), 1 - tonumber(ARGV[3]), tonumber(ARGV[4])
if ARGV[5] == '0' then burst = 0 end

-- The most that any window holding now holds, read exactly: such a window ends at now or at an
-- entry booked ahead (one ending anywhere else holds a subset of one of those). Two pointers over
-- the entries within a window of now; nil when there are more than the walk reads.
local function peak(log, now, window, walk)
  local entries = redis.call('ZRANGEBYSCORE', log, string.format('(%d', now - window),
    string.format('(%d', now + window), 'WITHSCORES', 'LIMIT', 0, walk + 1)
  if #entries > 2 * walk then return nil end
  local at, rs, ts, n = {}, {}, {}, 0
  for i = 1, #entries, 2 do
    n = n + 1
    rs[n], ts[n] = weights(entries[i])
    at[n] = tonumber(entries[i + 1])
  end
  local hi, lo, sum_r, sum_t, peak_r, peak_t = 0, 1, 0, 0, 0, 0
  local function reach(e)
    while hi < n and at[hi + 1] <= e do hi = hi + 1; sum_r, sum_t = sum_r + rs[hi], sum_t + ts[hi] end
    while lo <= hi and at[lo] <= e - window do sum_r, sum_t = sum_r - rs[lo], sum_t - ts[lo]; lo = lo + 1 end
    if sum_r > peak_r then peak_r = sum_r end
    if sum_t > peak_t then peak_t = sum_t end
  end
  reach(now)
  for j = 1, n do if at[j] > now then reach(at[j]) end end
  return peak_r, peak_t
end

local function reply(status, wait, now, r, t, cap_r, cap_t, reason, member)
  return string.format('%d %d %d %d %d %d %d %s %s', status, wait, now, r, t, cap_r, cap_t, reason, member)
end

local st = load(state)
local now = st.now
local used_r, used_t = window_totals(log, st, window)
local lost = seen > 0 and now - seen < window and (st.since == nil or st.since > seen)
if lost then
  record(log, st, now, conf_r, conf_t)
  used_r, used_t, st.since = used_r + conf_r, used_t + conf_t, 0
  st.r, st.t = st.r + conf_r, st.t + conf_t
end
local limit_r, limit_t = effective(st, conf_r, conf_t)
local cap_r, cap_t = math.floor(limit_r * keep + 1e-9), math.floor(limit_t * keep + 1e-9)
local cap_d, used_d = math.floor(day_limit * keep + 1e-9), 0
-- The day log exists while some caller has a daily limit: then every caller's admissions go in.
local daily = day_limit > 0 or redis.call('EXISTS', day) == 1
if daily then
  redis.call('ZREMRANGEBYSCORE', day, '-inf', now - DAY_US)
  used_d = redis.call('ZCARD', day)
end

local never = ''
if tokens > cap_t then never = 'tokens' elseif cap_r < 1 then never = 'requests'
elseif day_limit > 0 and cap_d < 1 then never = 'requests_per_day' end
if never ~= '' then
  save(log, state, st, ttl, window)
  return reply(-1, 0, now, used_r, used_t, cap_r, cap_t, never, '')
end

local wait, reason = 0, ''
local function later(us, why)
  if us > wait then wait, reason = us, why end
end

local hard = 0  -- a wait no reservation may bridge (a cooldown, the daily limit)
local cooldown_until = tonumber(redis.call('GET', cool) or '0')
if cooldown_until > now then later(cooldown_until - now, 'cooldown'); hard = wait end

local need_r, need_t = used_r + 1 - cap_r, used_t + tokens - cap_t
if (need_r > 0 or need_t > 0) and burst == 0 and hard == 0 and not lost then
  -- The count above holds every entry after now - window, the bookings ahead included: a bound
  -- on each window that holds now, but callers booked up to a horizon ahead make it too high
  -- by what leaves the window before their moment. An unpaced caller (a query, an ask) is
  -- checked exactly, so the share a backfill's reserve leaves is there for it at once.
  local peak_r, peak_t = peak(log, now, window, walk)
  if peak_r ~= nil and peak_r + 1 <= cap_r and peak_t + tokens <= cap_t then need_r, need_t = 0, 0 end
end
if need_r > 0 or need_t > 0 then
  -- Walk the window's oldest admissions until enough requests and tokens would have left it.
  local freed_r, freed_t, last, seen = 0, 0, now - window + 1, 0
  local done_r, done_t = need_r <= 0, need_t <= 0
  while not (done_r and done_t) and seen < walk do
    local batch = window_entries(log, st, window, seen)
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      local mr, mt = weights(batch[i])
      last = tonumber(batch[i + 1])
      freed_r, freed_t = freed_r + mr, freed_t + mt
      if not done_r and freed_r >= need_r then done_r = true; later(last + window - now, 'requests') end
      if not done_t and freed_t >= need_t then done_t = true; later(last + window - now, 'tokens') end
    end
    seen = seen + 100
  end
  -- Not found within the walk: when the last entry read leaves is a lower bound; ask again then.
  if not done_r then later(last + window - now, 'requests') end
  if not done_t then later(last + window - now, 'tokens') end
end

if day_limit > 0 and used_d + 1 > cap_d then
  local oldest = redis.call('ZRANGE', day, used_d - cap_d, used_d - cap_d, 'WITHSCORES')
  later(tonumber(oldest[2]) + DAY_US - now, 'requests_per_day')
  hard = wait
end

local pace_r, pace_t, cost_r, cost_t
if burst > 0 then
  local paced = redis.call('HMGET', state, 'pr', 'pt')
  pace_r, pace_t = math.max(tonumber(paced[1]) or 0, now), math.max(tonumber(paced[2]) or 0, now)
  cost_r, cost_t = window / cap_r, tokens * window / cap_t
  local tolerance = window * math.max(0, burst - (1 - keep))
  -- Admitted when nothing is ahead of it, or when it still ends within the burst.
  local function paced_wait(at, cost)
    local ahead = at - now
    if ahead == 0 or ahead + cost <= tolerance then return 0 end
    return math.ceil(math.min(ahead, ahead + cost - tolerance))
  end
  later(paced_wait(pace_r, cost_r), 'requests')
  later(paced_wait(pace_t, cost_t), 'tokens')
end

local reservable = tonumber(ARGV[7] or '0')
if wait > 0 and (hard > 0 or lost or wait > reservable) then
  if lost then reason = 'restart' end
  save(log, state, st, ttl, window)
  history_add(KEYS[5], ARGV[6], now, {w = 1})
  return reply(0, wait, now, used_r, used_t, cap_r, cap_t, reason, '')
end

local at = now + wait  -- now, or the reserved moment it fits
local member = record(log, st, at, 1, tokens)
st.r, st.t = st.r + 1, st.t + tokens
save(log, state, st, ttl + math.ceil(wait / 1000), window)  -- a future entry lives its whole window too
if burst > 0 then
  redis.call('HSET', state, 'pr', math.ceil(math.max(pace_r, at) + cost_r), 'pt', math.ceil(math.max(pace_t, at) + cost_t))
end
if daily then
  redis.call('ZADD', day, now, string.format('%d:', now) .. member)
  redis.call('PEXPIRE', day, DAY_US / 1000 + ttl)
end
if wait > 0 then history_add(KEYS[5], ARGV[6], now, {r = 1, t = tokens, w = 1})  -- a booked wait is a wait
else history_add(KEYS[5], ARGV[6], now, {r = 1, t = tokens}) end
return reply(1, wait, now, used_r + 1, used_t + tokens, cap_r, cap_t, reason, member)
