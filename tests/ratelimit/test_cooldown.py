import time

import pytest

from ratelimit import Limiter


def test_cooldown_stops_every_client(make_limiter, client) -> None:
    hit = make_limiter(requests=100, tokens=10_000, window_seconds=10)
    other_process = Limiter(client, account=hit.account, model=hit.model, limits=hit.limits)
    other_config = make_limiter(requests=50, tokens=5_000, window_seconds=10)
    assert hit.cooldown(0.3) == pytest.approx(0.3, abs=0.01)
    for limiter in (hit, other_process, other_config):
        refused = limiter.acquire(tokens=1)
        assert not refused.admitted and refused.reason == "cooldown"
        assert 0.2 < refused.retry_after <= 0.3
    assert hit.usage().cooldown_seconds > 0.2
    assert hit.usage().requests_used == 0
    time.sleep(0.31)
    assert all(limiter.acquire(tokens=1).admitted for limiter in (hit, other_process, other_config))


def test_a_cooldown_is_never_shortened(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=10_000, window_seconds=10)
    limiter.cooldown(5)
    assert limiter.cooldown(0.1) > 4.9
    assert limiter.acquire(tokens=1).retry_after > 4.9


def test_cooldown_and_window_waits_take_the_longer(make_limiter) -> None:
    limiter = make_limiter(requests=1, tokens=10_000, window_seconds=5)
    limiter.acquire(tokens=1)
    limiter.cooldown(1)
    refused = limiter.acquire(tokens=1)
    assert refused.reason == "requests" and refused.retry_after > 4.9
