-- A batch finished (any final status): its tokens leave the queue.  KEYS: admitted.  ARGV: batch key.
-- Returns 1 if it was admitted, 0 if already released (or never admitted).
return redis.call('HDEL', KEYS[1], ARGV[1])
