-- Shared prelude of the breaker's scripts: its state (hash) and Redis's clock.
-- Fields: fails = failures in a row; opens = openings in a row (0: closed); until = the end of the
-- open time (us); probe = the end of the one probe's slot (us, 0: none); reason; blocked = 1 when a
-- refusal of the credentials or the quota opened it (no backoff, one long open time).
local function breaker_load(key)
  local s = redis.call('HMGET', key, 'fails', 'opens', 'until', 'probe', 'reason', 'blocked')
  local time = redis.call('TIME')
  return {fails = tonumber(s[1]) or 0, opens = tonumber(s[2]) or 0, ['until'] = tonumber(s[3]) or 0,
          probe = tonumber(s[4]) or 0, reason = s[5] or '', blocked = tonumber(s[6]) or 0,
          now = tonumber(time[1]) * 1000000 + tonumber(time[2])}
end

local function breaker_reply(b)
  return {b.fails, b.opens, b['until'], b.probe, b.reason, b.blocked, b.now}
end
