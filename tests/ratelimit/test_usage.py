import time

from ratelimit import Usage


def test_usage_reports_the_window_now(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.3)
    empty = limiter.usage()
    assert empty == Usage(0, 10, 0, 1000, 0.0, 0.3, at=empty.at)
    admitted = [(limiter.acquire(tokens=300), 300), (limiter.acquire(tokens=200), 200)]
    usage = limiter.usage()
    # what is still in the window on Redis's clock (a busy machine may call usage() late)
    held = [tokens for decision, tokens in admitted if decision.at > usage.at - 0.3]
    assert (usage.requests_used, usage.requests_limit, usage.tokens_used, usage.tokens_limit) == (
        len(held), 10, sum(held), 1000)  # fmt: skip
    assert usage.cooldown_seconds == 0 and usage.requests_per_day_used is None
    time.sleep(0.35)
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (0, 0)


def test_keys_expire_when_idle(make_limiter, client) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.2)
    limiter.acquire(tokens=10)
    limiter.cooldown(0.1)
    keys = [k for k in limiter.keys.all if client.exists(k)]
    assert set(keys) >= {limiter.keys.log, limiter.keys.state, limiter.keys.cooldown}
    assert all(0 < client.pttl(k) <= 400 for k in keys)
    time.sleep(0.45)
    assert client.exists(*limiter.keys.all) == 0
    assert limiter.acquire(tokens=1000).admitted  # and starts again from nothing


def test_memory_is_bounded_by_the_window(make_limiter, client) -> None:
    limiter = make_limiter(requests=1_000_000, tokens=10**9, window_seconds=0.1)
    for _ in range(50):
        limiter.acquire(tokens=1)
    time.sleep(0.12)
    limiter.acquire(tokens=1)
    assert client.zcard(limiter.keys.log) == 1
    assert limiter.usage().requests_used == 1


def test_a_lost_state_is_rebuilt_from_the_log(make_limiter, client) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=10)
    limiter.acquire(tokens=400)
    limiter.acquire(tokens=400)
    client.delete(limiter.keys.state)
    assert not limiter.acquire(tokens=300).admitted
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (2, 800)
    assert limiter.acquire(tokens=200).admitted
    assert client.zcard(limiter.keys.log) == 3  # no member was overwritten by a restarted counter
