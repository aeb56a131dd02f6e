-- What a request to this deployment met.  KEYS: the breaker.
-- ARGV: outcome (ok | fail | block | release), failures that open it, first open time (us), longest (us),
-- a block's open time (us), reason, idle expiry (ms).
-- ok closes it. fail counts one in a row; the threshold-th (or a probe's failure) opens it for the
-- first open time, doubled at each opening in a row up to the longest. block opens it at once for
-- the block's time. release gives back a probe's slot that was not used (its limiter said not now). Returns the state as breaker_probe.lua does (without the verdict).
local key = KEYS[1]
local b = breaker_load(key)
local outcome = ARGV[1]
if outcome == 'release' then
  if b.probe > 0 then redis.call('HSET', key, 'probe', 0); b.probe = 0 end
  return breaker_reply(b)
end
if outcome == 'ok' then
  if b.fails == 0 and b.opens == 0 then return breaker_reply(b) end
  b.fails, b.opens, b['until'], b.probe, b.reason, b.blocked = 0, 0, 0, 0, '', 0
elseif outcome == 'fail' then
  b.fails = b.fails + 1
  if b.opens > 0 or b.fails >= tonumber(ARGV[2]) then
    b.opens = b.opens + 1
    b['until'] = b.now + math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ (b.opens - 1))
    b.probe, b.reason, b.blocked, b.fails = 0, ARGV[6], 0, 0
  end
else
  b.opens = math.max(1, b.opens + 1)
  b['until'] = b.now + tonumber(ARGV[5])
  b.probe, b.reason, b.blocked, b.fails = 0, ARGV[6], 1, 0
end
redis.call('HSET', key, 'fails', b.fails, 'opens', b.opens, 'until', string.format('%d', b['until']),
  'probe', string.format('%d', b.probe), 'reason', b.reason, 'blocked', b.blocked)
redis.call('PEXPIRE', key, tonumber(ARGV[7]))
return breaker_reply(b)
