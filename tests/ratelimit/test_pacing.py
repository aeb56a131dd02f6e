"""Pacing (``burst``): a burst's share of a limit at once, then the limit's own rate.

Waits are checked against the decisions' own times (``Decision.at``, Redis's clock), never
against how quickly this process made its calls: on a busy machine (load 5-15) a few
milliseconds between two calls made the old "retry_after ≈ 0.1 ± 0.01" fail.
"""

import time

import pytest

from ratelimit import Limiter, Limits


def test_at_most_the_burst_goes_at_once(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10, burst=0.1)  # 10 ms per token, 1 s burst
    first = limiter.acquire(tokens=60)
    assert first.admitted
    refused = limiter.acquire(tokens=60)  # 120 tokens would exceed the 100-token burst
    assert not refused.admitted and refused.reason == "tokens"
    # until the first is 40 tokens from paid off: 0.2 s after it
    assert refused.retry_after == pytest.approx(first.at + 0.2 - refused.at, abs=0.002)
    assert limiter.usage().tokens_used == 60, "a paced refusal consumed something"


def test_requests_are_paced_too(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=10_000, window_seconds=10, burst=0.2)  # 1 s per request
    first, second = limiter.acquire(tokens=0), limiter.acquire(tokens=0)
    assert first.admitted and second.admitted
    refused = limiter.acquire(tokens=0)
    assert not refused.admitted and refused.reason == "requests"
    assert refused.retry_after == pytest.approx(first.at + 1.0 - refused.at, abs=0.002)


def test_a_request_bigger_than_the_burst_goes_alone(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10, burst=0.1)
    first = limiter.acquire(tokens=500)
    assert first.admitted, "nothing was ahead of it"
    refused = limiter.acquire(tokens=10)
    assert not refused.admitted
    # the 500 paid off to within the burst: 4.1 s after it
    assert refused.retry_after == pytest.approx(first.at + 4.1 - refused.at, abs=0.002)


def test_a_reserve_shortens_the_burst_for_those_who_keep_it(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10, burst=0.1)
    assert limiter.acquire(tokens=40, reserve=0.05).admitted
    assert not limiter.acquire(tokens=40, reserve=0.05).admitted, "the bulk caller went past burst less reserve"
    assert limiter.acquire(tokens=40).admitted, "the caller without a reserve found no room"


def test_the_pace_is_the_limit_and_the_window_still_holds(make_limiter) -> None:
    window, limit, burst, size = 1.0, 1000, 0.1, 20
    limiter = make_limiter(requests=1000, tokens=limit, window_seconds=window, burst=burst)
    stamps, waited = [], False
    started = time.monotonic()
    while time.monotonic() - started < 1.6:
        decision = limiter.acquire(tokens=size)
        if decision.admitted:
            stamps.append(decision.at)
        else:
            # Never paced below the limit: where the window has room, the pace asks for at most
            # one request's share of it; and waiting as told is enough (a busy machine waits longer).
            if decision.tokens_used + size <= limit:
                assert decision.retry_after <= size * window / limit + 0.001, "paced below the limit"
            assert not waited or decision.retry_after < 0.002, "waited as told and still refused"
            time.sleep(decision.retry_after)
        waited = not decision.admitted
    first = stamps[0]
    early = sum(size for at in stamps if at - first < 0.5)
    assert early <= burst * limit + 0.5 * limit + size, f"{early} tokens in the first half second: not paced"
    for at in stamps:
        in_window = sum(size for other in stamps if at <= other < at + window)
        assert in_window <= limit


@pytest.mark.parametrize("burst", [0.0, -0.1, 1.5])
def test_burst_must_be_a_share(client, burst: float) -> None:
    with pytest.raises(ValueError, match="burst"):
        Limiter(client, account="acct", model="m", limits=Limits(requests=1, tokens=1), burst=burst)


def test_an_unpaced_request_uses_the_windows_free_capacity_at_once(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10, burst=0.1)
    admitted = [limiter.acquire(tokens=100, pace=False) for _ in range(10)]
    assert [decision.admitted for decision in admitted] == [True] * 10, "a short job paced"
    refused = limiter.acquire(tokens=1, pace=False)
    assert not refused.admitted and refused.reason == "tokens", "the window no longer holds"
    assert refused.retry_after == pytest.approx(admitted[0].at + 10.0 - refused.at, abs=0.002)


def test_unpaced_admissions_do_not_hold_back_the_paced(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10, burst=0.1)
    assert limiter.acquire(tokens=300, pace=False).admitted
    assert limiter.acquire(tokens=60).admitted, "the pace was moved on by an unpaced admission"
