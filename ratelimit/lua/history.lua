-- Read-only: what history_add (_history.lua) recorded.  KEYS: history, state (for the clock).
-- Returns {now (us), then the hash's fields and values, flat}; history.py picks the buckets.
local st = load(KEYS[2])
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, st.now)
return reply
