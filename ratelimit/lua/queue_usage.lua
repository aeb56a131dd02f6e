-- Read-only snapshot.  KEYS: admitted, lowered.  ARGV: configured limit.  Returns snapshot().
return snapshot(KEYS[1], KEYS[2], tonumber(ARGV[1]))
