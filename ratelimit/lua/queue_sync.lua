-- Replace the admitted set with the database's truth.  KEYS: admitted.
-- ARGV: idle (ms), then batch key, tokens, batch key, tokens, ...  Returns the batches now held.
local admitted = KEYS[1]
redis.call('DEL', admitted)
for i = 2, #ARGV, 2 do redis.call('HSET', admitted, ARGV[i], ARGV[i + 1]) end
touch(admitted, tonumber(ARGV[1]))
return redis.call('HLEN', admitted)
