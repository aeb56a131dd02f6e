-- History, prepended after _common.lua: per-bucket counters of what the limiter did, for charts
-- and metrics (read by history.lua). One hash per (account, model, window), all optional: a
-- script whose history key is absent records nothing.
-- Fields 'b:<bucket>:<what>' for the kept buckets, 'all:<what>' since the hash was created (for
-- monotonic counters), 'cur' = the latest bucket written. what: r requests admitted, t tokens
-- admitted (as estimated), x / g tokens a response's usage added / gave back, w refusals ("not
-- now"), e 429s reported, c cooldowns started or lengthened, u the latest cooldown end set in the
-- bucket (us, not a count), s / n the server's processing time (us) and how many responses said.
-- config: "bucket(us) keep(buckets)". Buckets older than keep are deleted when a new bucket
-- starts (one HKEYS per bucket), and the hash expires keep buckets after its last write.
local function history_add(key, config, at, counts, latest)
  if key == nil or config == nil then return end
  local bucket, keep = string.match(config, '^(%d+) (%d+)$')
  bucket, keep = tonumber(bucket), tonumber(keep)
  local index = math.floor(at / bucket)
  if index > tonumber(redis.call('HGET', key, 'cur') or '-1') then
    redis.call('HSET', key, 'cur', string.format('%d', index))
    for _, field in ipairs(redis.call('HKEYS', key)) do
      local old = tonumber(string.match(field, '^b:(%d+):'))
      if old and old <= index - keep then redis.call('HDEL', key, field) end
    end
  end
  local prefix = string.format('b:%d:', index)
  for what, amount in pairs(counts) do
    if amount > 0 then
      redis.call('HINCRBY', key, prefix .. what, amount)
      redis.call('HINCRBY', key, 'all:' .. what, amount)
    end
  end
  for what, value in pairs(latest or {}) do
    if value > tonumber(redis.call('HGET', key, prefix .. what) or '0') then
      redis.call('HSET', key, prefix .. what, string.format('%d', value))
    end
  end
  redis.call('PEXPIRE', key, math.ceil(bucket * keep / 1000))
end
