-- May a request go to this deployment now?  KEYS: the breaker.  ARGV: the probe slot's length (us).
-- Closed: yes. Open: no, until its time ends. Then half-open: exactly one caller (the probe) gets a
-- slot; the others wait for its answer (or for the slot to run out, if the probe died).
-- Returns {verdict, fails, opens, until, probe, reason, blocked, now}: verdict 1 closed, 2 you probe, 0 wait.
local key = KEYS[1]
local b = breaker_load(key)
if b.opens == 0 then return {1, unpack(breaker_reply(b))} end
if b['until'] > b.now or b.probe > b.now then return {0, unpack(breaker_reply(b))} end
b.probe = b.now + tonumber(ARGV[1])
redis.call('HSET', key, 'probe', b.probe)
return {2, unpack(breaker_reply(b))}
