-- Read-only snapshot for the dashboard.  KEYS: log, state, cooldown, day.
-- ARGV: configured requests, tokens limit, window (us), requests per day (0 = none).
-- Returns {now, requests used, tokens used, request limit, token limit, cooldown left (us),
-- requests used today}.
local log, state, cool, day = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local window = tonumber(ARGV[3])
local st = load(state)
local now = st.now
local used_r, used_t = totals(log, st, now - window)
local limit_r, limit_t = effective(st, tonumber(ARGV[1]), tonumber(ARGV[2]))
local cooldown_left = math.max(0, tonumber(redis.call('GET', cool) or '0') - now)
local used_d = 0
if tonumber(ARGV[4]) > 0 then used_d = redis.call('ZCOUNT', day, '(' .. string.format('%d', now - DAY_US), '+inf') end
return {now, used_r, used_t, limit_r, limit_t, cooldown_left, used_d}
