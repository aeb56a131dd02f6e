import time

import pytest

from ratelimit import NeverFits, RateLimitError


def test_admits_up_to_the_request_limit_then_refuses(make_limiter) -> None:
    limiter = make_limiter(requests=5, tokens=10_000, window_seconds=10)
    decisions = [limiter.acquire(tokens=10) for _ in range(7)]
    assert [d.admitted for d in decisions] == [True] * 5 + [False] * 2
    assert decisions[5].reason == "requests"
    assert 9.9 < decisions[5].retry_after <= 10.0


def test_tokens_and_requests_are_checked_together(make_limiter) -> None:
    limiter = make_limiter(requests=3, tokens=1000, window_seconds=10)
    assert limiter.acquire(tokens=900).admitted
    refused = limiter.acquire(tokens=200)
    assert not refused.admitted and refused.reason == "tokens"
    # The token refusal burnt no request slot: two more small requests still fit.
    assert limiter.acquire(tokens=50).admitted
    assert limiter.acquire(tokens=50).admitted
    assert limiter.acquire(tokens=0).reason == "requests"


def test_a_refusal_consumes_nothing(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10)
    limiter.acquire(tokens=700)
    before = limiter.usage()
    for _ in range(20):
        assert not limiter.acquire(tokens=400).admitted
    after = limiter.usage()
    assert (after.requests_used, after.tokens_used) == (before.requests_used, before.tokens_used) == (1, 700)


def test_retry_after_is_exact(make_limiter) -> None:
    window = 1.0
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=window)
    first = limiter.acquire(tokens=600)
    refused = limiter.acquire(tokens=600)
    assert not refused.admitted
    assert refused.retry_after == pytest.approx(first.at + window - refused.at, abs=2e-6)
    time.sleep(max(0.0, refused.retry_after - 0.05))
    early = limiter.acquire(tokens=600)  # on a busy machine the sleep may have lasted past the window: see .at
    if early.at < first.at + window:
        assert not early.admitted, "admitted before the first admission left the window"
        assert early.retry_after == pytest.approx(first.at + window - early.at, abs=2e-6)
        time.sleep(early.retry_after)
        on_time = limiter.acquire(tokens=600)
    else:
        on_time = early
    assert on_time.admitted, "waited as told and still refused"
    assert on_time.at >= first.at + window


def test_retry_after_waits_for_enough_old_admissions(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=5)
    stamps = [limiter.acquire(tokens=250).at for _ in range(4)]
    refused = limiter.acquire(tokens=600)  # needs three of the four to leave
    assert refused.retry_after == pytest.approx(stamps[2] + 5 - refused.at, abs=2e-6)


def test_a_request_larger_than_a_limit_never_fits(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=10)
    with pytest.raises(NeverFits) as caught:
        limiter.acquire(tokens=1001)
    assert (caught.value.limit, caught.value.requested) == (1000, 1001)
    assert isinstance(caught.value, RateLimitError)
    assert limiter.usage().requests_used == 0
    with pytest.raises(NeverFits):  # nor with a reserve that leaves it too little room
        limiter.acquire(tokens=950, reserve=0.1)


def test_reserve_keeps_room_for_interactive_callers(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10)
    bulk = [limiter.acquire(tokens=100, reserve=0.1) for _ in range(10)]
    assert [d.admitted for d in bulk] == [True] * 9 + [False]
    assert bulk[-1].tokens_limit == 900 and bulk[-1].reason == "tokens"
    assert limiter.acquire(tokens=100).admitted  # interactive: reserve=0 uses the last 10%
    assert not limiter.acquire(tokens=1).admitted


def test_reserve_applies_to_requests_too(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=100_000, window_seconds=10)
    assert sum(limiter.acquire(tokens=1, reserve=0.2).admitted for _ in range(10)) == 8
    assert sum(limiter.acquire(tokens=1).admitted for _ in range(10)) == 2


def test_requests_per_day(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=100_000, window_seconds=0.2, requests_per_day=3)
    first = limiter.acquire(tokens=1)
    assert limiter.acquire(tokens=1).admitted and limiter.acquire(tokens=1).admitted
    time.sleep(0.25)  # the per-window limit has room again; the day has not
    refused = limiter.acquire(tokens=1)
    assert not refused.admitted and refused.reason == "requests_per_day"
    assert refused.retry_after == pytest.approx(first.at + 86400 - refused.at, abs=2e-6)
    usage = limiter.usage()
    assert (usage.requests_used, usage.requests_per_day_used, usage.requests_per_day_limit) == (0, 3, 3)


def test_arguments_are_checked(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000)
    for bad in (dict(tokens=-1), dict(tokens=1.5), dict(tokens=1, reserve=1.0), dict(tokens=1, reserve=-0.1)):
        with pytest.raises(ValueError):
            limiter.acquire(**bad)
