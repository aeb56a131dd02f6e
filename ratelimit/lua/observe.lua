-- Let the server's x-ratelimit-* headers correct our belief.
-- KEYS: log, state.  ARGV: configured requests, tokens limit, window (us), ttl (ms), then the
-- server's request limit, token limit, remaining requests, remaining tokens, request reset (us),
-- token reset (us); -1 where a header was absent.
-- A smaller server limit is adopted by every client (stored in the state). Fewer remaining than
-- we believe is consumed by a phantom admission that leaves the window when the server resets.
-- Returns {request limit before, after, token limit before, after, requests consumed, tokens consumed}.
local log, state = KEYS[1], KEYS[2]
local conf_r, conf_t = tonumber(ARGV[1]), tonumber(ARGV[2])
local window, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local server_r, server_t = tonumber(ARGV[5]), tonumber(ARGV[6])
local left_r, left_t = tonumber(ARGV[7]), tonumber(ARGV[8])
local reset_r, reset_t = tonumber(ARGV[9]), tonumber(ARGV[10])

local st = load(state)
local now = st.now
local used_r, used_t = purge(log, st, now - window)
local before_r, before_t = effective(st, conf_r, conf_t)

local function adopt(field, configured, server)
  if server < 0 then return end
  if server < configured then
    st[field] = server
    redis.call('HSET', state, field, server)
  else
    st[field] = nil
    redis.call('HDEL', state, field)
  end
end
adopt('lr', conf_r, server_r)
adopt('lt', conf_t, server_t)
local limit_r, limit_t = effective(st, conf_r, conf_t)

local function consume(left, limit, used, reset)
  if left < 0 or left >= limit - used then return 0 end
  if reset < 0 or reset > window then reset = window end
  if reset == 0 then return 0 end
  return limit - used - left, now - window + reset
end

local extra_r, at_r = consume(left_r, limit_r, used_r, reset_r)
if extra_r > 0 then record(log, st, at_r, extra_r, 0) end
local extra_t, at_t = consume(left_t, limit_t, used_t, reset_t)
if extra_t > 0 then record(log, st, at_t, 0, extra_t) end

st.r, st.t = used_r + extra_r, used_t + extra_t
save(log, state, st, ttl)
return {before_r, limit_r, before_t, limit_t, extra_r, extra_t}
