-- The breaker's state, read-only, for pages.  KEYS: the breaker.
return breaker_reply(breaker_load(KEYS[1]))
