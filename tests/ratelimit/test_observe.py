import logging
import time

from ratelimit import Limiter


def headers(**values: str) -> dict[str, str]:
    return {f"x-ratelimit-{name.replace('_', '-')}": value for name, value in values.items()}


def test_fewer_remaining_than_we_believe_is_consumed(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=10_000, window_seconds=10)
    limiter.acquire(tokens=1000)
    limiter.observe(headers(remaining_requests="89", remaining_tokens="7000", reset_tokens="2s"))
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (11, 3000)
    refused = limiter.acquire(tokens=7001)
    assert not refused.admitted and refused.reason == "tokens"
    assert 1.9 < refused.retry_after <= 2.0  # the phantom leaves when the server resets
    assert limiter.acquire(tokens=7000).admitted


def test_more_remaining_than_we_believe_changes_nothing(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=10_000, window_seconds=10)
    limiter.acquire(tokens=1000)
    limiter.observe(headers(remaining_requests="99", remaining_tokens="9900"))
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (1, 1000)


def test_a_smaller_server_limit_is_adopted_by_all_and_logged_once(make_limiter, client, caplog) -> None:
    limiter = make_limiter(requests=3000, tokens=1_000_000, window_seconds=10)
    other = Limiter(client, account=limiter.account, model=limiter.model, limits=limiter.limits)
    server = headers(limit_requests="500", limit_tokens="150000", remaining_requests="499",
                     remaining_tokens="149000", reset_requests="120ms", reset_tokens="6m0s")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="ratelimit"):
        limiter.observe(server)
        limiter.observe(server)
        other.observe(server)
    assert len([r for r in caplog.records if "150000 tokens" in r.getMessage()]) == 1
    assert len([r for r in caplog.records if "500 requests" in r.getMessage()]) == 1
    usage = other.usage()
    assert (usage.requests_limit, usage.tokens_limit) == (500, 150_000)
    assert (usage.requests_used, usage.tokens_used) == (1, 1000)  # the server's own count
    assert other.acquire(tokens=149_000).admitted
    assert not other.acquire(tokens=1).admitted


def test_a_larger_server_limit_never_raises_ours(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=10_000, window_seconds=10)
    limiter.observe(headers(limit_tokens="5000"))
    assert limiter.usage().tokens_limit == 5000
    limiter.observe(headers(limit_tokens="20000"))  # the server raised it: back to our configured belief
    assert limiter.usage().tokens_limit == 10_000


def test_headers_without_rate_limits_are_ignored(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=10_000, window_seconds=10)
    assert limiter.observe({"content-type": "application/json"}).is_empty()
    assert limiter.usage().tokens_used == 0


def test_headers_are_compared_with_the_window_the_server_counted_not_the_one_after_it(make_limiter) -> None:
    """A response read after admissions left our window (they were in the server's count) is no deficit."""
    window = 1.0
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=window)
    first = limiter.acquire(tokens=900)
    time.sleep(0.6)
    second = limiter.acquire(tokens=50)  # the server counts both when it answers this one
    time.sleep(max(0.0, first.at + window + 0.05 - time.time()))  # the first has left our window since

    limiter.observe(headers(remaining_requests="98", remaining_tokens="50", reset_tokens="1s"), at=second.at)

    assert limiter.usage().tokens_used == 50  # no phantom of the 900 that already left
    assert limiter.acquire(tokens=900).admitted


def test_a_deficit_in_the_window_the_server_counted_still_becomes_a_phantom_from_its_reset(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10)
    admitted = limiter.acquire(tokens=100)
    time.sleep(0.3)

    limiter.observe(headers(remaining_requests="99", remaining_tokens="500", reset_tokens="2s"), at=admitted.at)

    assert limiter.usage().tokens_used == 500  # someone else's 400, beside our 100
    refused = limiter.acquire(tokens=501)
    assert not refused.admitted and 1.5 < refused.retry_after <= 1.7  # the reset counts from the server's answer


def test_a_request_that_overtook_the_observed_one_is_no_deficit(make_limiter) -> None:
    """Requests admitted after the observed one may reach the server first: they are in its count and ours."""
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10)
    observed = limiter.acquire(tokens=100)
    limiter.acquire(tokens=300)  # admitted later, answered first: the server counted it too

    limiter.observe(headers(remaining_requests="98", remaining_tokens="600", reset_tokens="10s"), at=observed.at)

    assert limiter.usage().tokens_used == 400
    assert limiter.acquire(tokens=600).admitted
