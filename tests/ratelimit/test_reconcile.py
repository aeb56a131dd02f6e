import pytest


def test_reconcile_the_admission_down_and_up(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=10)
    decision = limiter.acquire(tokens=800)
    assert limiter.reconcile(estimated=800, actual=600, admission=decision) == 600
    assert limiter.acquire(tokens=400).admitted  # the 200 given back are usable
    assert limiter.usage().tokens_used == 1000
    second = limiter.acquire(tokens=0)
    assert limiter.reconcile(estimated=0, actual=50, admission=second) == 1050
    assert limiter.usage().requests_used == 3  # reconciling never adds requests


def test_reconcile_without_the_admission(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=10)
    limiter.acquire(tokens=300)
    limiter.acquire(tokens=300)
    assert limiter.reconcile(estimated=300, actual=100) == 400
    assert limiter.reconcile(estimated=300, actual=450) == 550
    usage = limiter.usage()
    assert (usage.requests_used, usage.tokens_used) == (2, 550)
    assert limiter.acquire(tokens=450).admitted
    assert not limiter.acquire(tokens=1).admitted


def test_reconcile_after_the_admission_left_the_window_changes_nothing(make_limiter) -> None:
    import time

    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.1)
    decision = limiter.acquire(tokens=500)
    time.sleep(0.15)
    limiter.acquire(tokens=100)
    assert limiter.reconcile(estimated=500, actual=900, admission=decision) == 100


# These read Redis's clock (the limiter's own) around the reconcile, never assume how long this
# process slept: on a busy machine a sleep lasts longer than asked, and at load 5-15 the old
# versions (a 0.3 s window, "retry_after within 0.1-0.16 s") failed. A 3 s window keeps the
# admission in it however late the next call comes.
WINDOW = 3.0


def _redis_now(client) -> float:
    seconds, microseconds = client.time()
    return seconds + microseconds / 1e6


def _counted_from(refused, window: float) -> float:
    """When the window's one admission counts from (Redis's clock): it leaves the window a window later."""
    return refused.at + refused.retry_after - window


def test_a_reconciled_admission_counts_from_the_response_not_the_request(make_limiter, client) -> None:
    """The server saw the request some time before its response: the window holds it from then."""
    import time

    limiter = make_limiter(requests=10, tokens=1000, window_seconds=WINDOW)
    decision = limiter.acquire(tokens=1000)
    time.sleep(0.2)  # a slow request: the response arrives (at least) 0.2 s after admission
    before = _redis_now(client)
    limiter.reconcile(estimated=1000, actual=1000, admission=decision)
    after = _redis_now(client)
    refused = limiter.acquire(tokens=1)
    assert not refused.admitted and refused.reason == "tokens"
    assert before - 0.002 <= _counted_from(refused, WINDOW) <= after + 0.002
    assert _counted_from(refused, WINDOW) >= decision.at + 0.2  # not from the admission


def test_a_reconciled_admission_counts_from_when_the_server_says_it_started(make_limiter, client) -> None:
    """``served`` (openai-processing-ms): counted from the response less the server's own time."""
    import time

    limiter = make_limiter(requests=10, tokens=1000, window_seconds=WINDOW)
    decision = limiter.acquire(tokens=1000)
    time.sleep(0.2)  # the response arrives (at least) 0.2 s after admission; the server says it worked 0.15 s
    before = _redis_now(client)
    limiter.reconcile(estimated=1000, actual=1000, admission=decision, served=0.15)
    after = _redis_now(client)
    refused = limiter.acquire(tokens=1)
    assert not refused.admitted and refused.reason == "tokens"
    assert before - 0.15 - 0.002 <= _counted_from(refused, WINDOW) <= after - 0.15 + 0.002


def test_served_never_moves_an_admission_before_it_was_admitted(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.3)
    decision = limiter.acquire(tokens=1000)
    limiter.reconcile(estimated=1000, actual=1000, admission=decision, served=10.0)  # a server's nonsense
    refused = limiter.acquire(tokens=1)
    assert not refused.admitted and refused.retry_after == pytest.approx(decision.at + 0.3 - refused.at, abs=2e-6)
