-- Correct an admission's recorded tokens with the response's actual usage.
-- KEYS: log, state, history (optional).  ARGV: window (us), estimated, actual, member ('' =
-- unknown), ttl (ms), served (us since the server counted the request: its processing time and what
-- passed since its answer arrived; 0 = unknown), walk
-- (most entries read), history config. The history books the difference in the admission's
-- bucket (in now's when the admission is unknown), and the served time.
-- With the member, that admission is rewritten and moved to now less served (never before its
-- admission): the server saw the request at some moment before its response, and a server that
-- checks limits on arrival saw it at least served before, so counting it from then keeps our
-- window at least as full as the server's however late the request reached it (nothing to do
-- once it left the window).
-- Without it, extra tokens are recorded now (a later time is the safe side) and tokens given
-- back come off the window's oldest admissions, which leave no later than the reconciled one.
-- Returns {tokens used in the window after the correction, tokens actually moved}.
local log, state = KEYS[1], KEYS[2]
local window, delta = tonumber(ARGV[1]), tonumber(ARGV[3]) - tonumber(ARGV[2])
local member, ttl, served, walk = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]) or 0, tonumber(ARGV[7])

local st = load(state)
local now = st.now
window_totals(log, st, window)
local moved = 0
local admitted_at = now

local function rewrite(m, score, new_t)
  local mr, mt, seq = weights(m)
  redis.call('ZREM', log, m)
  if mr > 0 or new_t > 0 then
    redis.call('ZADD', log, score, string.format('%d:%d:%d', mr, new_t, seq))
  end
  return new_t - mt
end

if member ~= '' then
  local score = redis.call('ZSCORE', log, member)
  if score then
    admitted_at = tonumber(score)
    local _, mt = weights(member)
    moved = rewrite(member, math.max(tonumber(score), now - served), math.max(0, mt + delta))
  end
elseif delta > 0 then
  record(log, st, now, 0, delta)
  moved = delta
elseif delta < 0 then
  local owed, seen = -delta, 0
  while owed > 0 and seen < walk do
    local batch = window_entries(log, st, window, seen)
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      local _, mt = weights(batch[i])
      local take = math.min(mt, owed)
      if take > 0 then
        moved = moved + rewrite(batch[i], batch[i + 1], mt - take)
        owed = owed - take
      end
      if owed == 0 then break end
    end
    seen = seen + 100
  end
end

st.t = st.t + moved
save(log, state, st, ttl, window)
local _, used_t = totals(log, st, now - window)
local n = 0
if served > 0 then n = 1 end
history_add(KEYS[3], ARGV[8], admitted_at, {x = math.max(0, delta), g = math.max(0, -delta), s = served, n = n})
return {used_t, moved}
