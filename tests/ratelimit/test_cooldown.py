import time

import pytest

from ratelimit import Limiter


def _redis_now(client) -> float:
    seconds, microseconds = client.time()
    return seconds + microseconds / 1e6


def test_cooldown_stops_every_client(make_limiter, client) -> None:
    """Checked on Redis's clock: on a busy machine the calls below may come a good while apart."""
    hit = make_limiter(requests=100, tokens=10_000, window_seconds=10)
    other_process = Limiter(client, account=hit.account, model=hit.model, limits=hit.limits)
    other_config = make_limiter(requests=50, tokens=5_000, window_seconds=10)
    before = _redis_now(client)
    assert hit.cooldown(2.0) == pytest.approx(2.0, abs=0.01)
    after = _redis_now(client)
    for limiter in (hit, other_process, other_config):
        refused = limiter.acquire(tokens=1)
        assert not refused.admitted and refused.reason == "cooldown"
        assert before + 2.0 - 0.002 <= refused.at + refused.retry_after <= after + 2.0 + 0.002  # its end, for all
    usage = hit.usage()
    assert before + 2.0 - 0.002 <= usage.at + usage.cooldown_seconds <= after + 2.0 + 0.002
    assert usage.requests_used == 0
    time.sleep(max(0.0, after + 2.0 - _redis_now(client)) + 0.01)
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
