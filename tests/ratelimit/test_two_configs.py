"""Two configurations of one (account, model) share the provider's one window.

A rolling change of TOLLGATE_TPM, one host with another ``.env``, the web app beside the
workers: the provider counts every request of the account in one window whatever each process
believes, so the limiters must too. Each caller still applies its own limit (and its own window
length) to everything every caller admitted.
"""

from __future__ import annotations

import threading
import time

STRICT, LOOSE = 999, 1000


def test_the_looser_limit_is_all_two_configurations_admit_together(make_limiter) -> None:
    loose = make_limiter(requests=100, tokens=LOOSE, window_seconds=10)
    strict = make_limiter(requests=100, tokens=STRICT, window_seconds=10)

    assert all(loose.acquire(tokens=100).admitted for _ in range(10))
    refused = strict.acquire(tokens=1)

    assert not refused.admitted and refused.reason == "tokens"
    assert (refused.tokens_used, refused.tokens_limit) == (LOOSE, STRICT)
    assert strict.usage().tokens_used == loose.usage().tokens_used == LOOSE


def test_the_stricter_caller_stops_at_its_limit_and_the_looser_at_its_own(make_limiter) -> None:
    loose = make_limiter(requests=100, tokens=LOOSE, window_seconds=10)
    strict = make_limiter(requests=100, tokens=STRICT, window_seconds=10)

    assert strict.acquire(tokens=STRICT).admitted
    assert not strict.acquire(tokens=1).admitted
    assert loose.acquire(tokens=1).admitted  # the looser one finds its last token free
    assert not loose.acquire(tokens=1).admitted
    assert loose.usage().tokens_used == LOOSE


def test_a_crowd_of_two_configurations_admits_exactly_the_looser_limit(make_limiter) -> None:
    """100 threads, half configured with each limit, each taking 1 token until refused."""
    loose = make_limiter(requests=10_000, tokens=LOOSE, window_seconds=30)
    strict = make_limiter(requests=10_000, tokens=STRICT, window_seconds=30)
    admitted: dict[str, list[int]] = {"loose": [], "strict": []}
    lock = threading.Lock()
    start = threading.Barrier(100)

    def take(name: str) -> None:
        limiter = loose if name == "loose" else strict
        start.wait()
        while (decision := limiter.acquire(tokens=1)).admitted:
            with lock:
                admitted[name].append(decision.tokens_used)

    threads = [threading.Thread(target=take, args=("loose" if i % 2 else "strict",)) for i in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(admitted["loose"]) + len(admitted["strict"]) == LOOSE
    assert max(admitted["strict"]) <= STRICT  # every strict admission left the shared window within its limit
    assert max(admitted["loose"]) <= LOOSE
    assert loose.usage().tokens_used == LOOSE


def test_requests_per_window_and_per_day_are_shared_too(make_limiter) -> None:
    daily = make_limiter(requests=10, tokens=1000, window_seconds=10, requests_per_day=5)
    stricter = make_limiter(requests=9, tokens=1000, window_seconds=10, requests_per_day=3)
    undaily = make_limiter(requests=10, tokens=1000, window_seconds=10)

    assert daily.acquire(tokens=1).admitted
    assert all(undaily.acquire(tokens=1).admitted for _ in range(2))  # no daily limit, but counted in the day
    refused = stricter.acquire(tokens=1)
    assert not refused.admitted and refused.reason == "requests_per_day"
    assert all(undaily.acquire(tokens=1).admitted for _ in range(2))
    refused = daily.acquire(tokens=1)
    assert not refused.admitted and refused.reason == "requests_per_day"
    assert daily.usage().requests_per_day_used == 5 and daily.usage().requests_used == 5

    assert all(undaily.acquire(tokens=1).admitted for _ in range(4))  # undaily's window: 9 + 1 = 10
    refused = stricter.acquire(tokens=1)
    assert not refused.admitted and refused.reason in ("requests", "requests_per_day")
    assert undaily.usage().requests_used == 9
    assert undaily.acquire(tokens=1).admitted
    assert not undaily.acquire(tokens=1).admitted


def test_each_caller_counts_its_own_window_over_one_log_kept_for_the_longest(make_limiter, client) -> None:
    long = make_limiter(requests=100, tokens=1000, window_seconds=4)
    short = make_limiter(requests=100, tokens=1000, window_seconds=0.5)
    assert long.acquire(tokens=1).admitted  # a caller with a 4 s window is in use
    assert short.acquire(tokens=999).admitted
    time.sleep(0.8)  # the short window has passed, and so has its own idle expiry (0.6 s)

    assert client.exists(long.keys.log, long.keys.state) == 2  # kept for the longest window in use
    assert short.acquire(tokens=1000).admitted  # nothing in its 0.5 s window
    refused = long.acquire(tokens=1)

    assert not refused.admitted and refused.reason == "tokens"
    assert refused.tokens_used == 2000  # its 4 s window holds both callers' admissions
    assert 3.0 < refused.retry_after <= 4.0  # when the 1000 admitted just now leave it
    assert (long.usage().tokens_used, short.usage().tokens_used) == (2000, 1000)


def test_the_servers_limit_learned_by_one_configuration_binds_every_other(make_limiter) -> None:
    loose = make_limiter(requests=100, tokens=LOOSE, window_seconds=10)
    strict = make_limiter(requests=100, tokens=STRICT, window_seconds=10)

    loose.observe({"x-ratelimit-limit-tokens": "800"})
    assert strict.usage().tokens_limit == 800
    strict.observe({"x-ratelimit-limit-tokens": "800"})  # the same news, from a caller configured lower
    assert loose.usage().tokens_limit == 800

    assert strict.acquire(tokens=800).admitted
    assert not loose.acquire(tokens=1).admitted

    loose.observe({"x-ratelimit-limit-tokens": "5000"})  # the server raised it: each is back to its own
    assert (loose.usage().tokens_limit, strict.usage().tokens_limit) == (LOOSE, STRICT)
