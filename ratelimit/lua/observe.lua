-- Let the server's x-ratelimit-* headers correct our belief.
-- KEYS: log, state.  ARGV: configured requests, tokens limit, window (us), ttl (ms), then the
-- server's request limit, token limit, remaining requests, remaining tokens, request reset (us),
-- token reset (us); -1 where a header was absent; then the Redis time (us) at which the request
-- that carried them was admitted (-1: now).
-- The server's limits are stored in the state, whatever this client is configured with: every
-- client then applies the smaller of its own and the server's (a caller configured lower must not
-- forget, for the others, what a caller configured higher learned). Fewer remaining than we
-- believed when the server counted is consumed by a phantom admission that leaves the window
-- when the server resets.
--
-- The server counted when the request arrived, about when it was admitted, and the headers are
-- read after the response (and the store): admissions that left our window in between were
-- still in the server's, and later admissions may have arrived before it. So the belief
-- compared is every admission from a window before the request's up to now, and the reset is
-- counted from the admission. Compared with the window before now alone, the ones that left
-- would read as a deficit held a whole window (a sliding server's reset is the time until its
-- newest entry leaves): at the turn of a window, a short job's last request waited for a third
-- one. Compared with the window before the admission alone, every request that overtook it on
-- the way would.
-- Returns {request limit before, after, token limit before, after, requests consumed, tokens consumed}.
local log, state = KEYS[1], KEYS[2]
local conf_r, conf_t = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local server_r, server_t = tonumber(ARGV[5]), tonumber(ARGV[6])
local left_r, left_t = tonumber(ARGV[7]), tonumber(ARGV[8])
local reset_r, reset_t = tonumber(ARGV[9]), tonumber(ARGV[10])
local at = tonumber(ARGV[11] or '-1')

local st = load(state)
local now = st.now
if at < 0 or at > now then at = now end
-- Admissions the server could still count that have left our window since (read before purging).
local left_since_r, left_since_t = 0, 0
if at < now then
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', log, string.format('(%d', at - window), now - window)) do
    local mr, mt = weights(member)
    left_since_r, left_since_t = left_since_r + mr, left_since_t + mt
  end
end
local used_r, used_t = window_totals(log, st, window)
local seen_r, seen_t = used_r + left_since_r, used_t + left_since_t
local before_r, before_t = effective(st, conf_r, conf_t)

local function adopt(field, server)
  if server < 0 then return end
  st[field] = server
  redis.call('HSET', state, field, server)
end
adopt('lr', server_r)
adopt('lt', server_t)
local limit_r, limit_t = effective(st, conf_r, conf_t)

-- A phantom of what the server counted beyond our belief, placed so it leaves at its reset
-- (none if that is already past).
local function consume(left, limit, seen, reset)
  if left < 0 or left >= limit - seen then return 0 end
  if reset < 0 or reset > window then reset = window end
  if reset == 0 or at + reset <= now then return 0 end
  return limit - seen - left, at - window + reset
end

local extra_r, at_r = consume(left_r, limit_r, seen_r, reset_r)
if extra_r > 0 then record(log, st, at_r, extra_r, 0) end
local extra_t, at_t = consume(left_t, limit_t, seen_t, reset_t)
if extra_t > 0 then record(log, st, at_t, 0, extra_t) end

st.r, st.t = st.r + extra_r, st.t + extra_t
save(log, state, st, ttl, window)
return {before_r, limit_r, before_t, limit_t, extra_r, extra_t}
