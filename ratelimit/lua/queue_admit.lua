-- Admit a batch iff the tokens in flight plus its own fit the effective limit; idempotent.
-- KEYS: admitted, lowered.  ARGV: batch key, tokens, configured limit, idle (ms).
-- Returns {admitted (0/1), in use after, effective limit}.
local admitted, lowered = KEYS[1], KEYS[2]
local batch, tokens, configured = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local used, limit = in_use(admitted), limit_now(lowered, configured)
if redis.call('HEXISTS', admitted, batch) == 1 then return {1, used, limit} end
if used + tokens > limit then return {0, used, limit} end
redis.call('HSET', admitted, batch, tokens)
redis.call('PEXPIRE', admitted, tonumber(ARGV[4]))
return {1, used + tokens, limit}
