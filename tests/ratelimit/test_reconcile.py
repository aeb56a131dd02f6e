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


def test_a_reconciled_admission_counts_from_the_response_not_the_request(make_limiter) -> None:
    """The server saw the request some time before its response: the window holds it from then."""
    import time

    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.3)
    decision = limiter.acquire(tokens=1000)
    time.sleep(0.2)  # a slow request: the response arrives 0.2 s after admission
    limiter.reconcile(estimated=1000, actual=1000, admission=decision)
    time.sleep(0.15)  # 0.35 s after admission, only 0.15 s after the response
    refused = limiter.acquire(tokens=1)
    assert not refused.admitted and 0.1 < refused.retry_after <= 0.16


def test_a_reconciled_admission_counts_from_when_the_server_says_it_started(make_limiter) -> None:
    """``served`` (openai-processing-ms): counted from the response less the server's own time."""
    import time

    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.3)
    decision = limiter.acquire(tokens=1000)
    time.sleep(0.2)  # the response arrives 0.2 s after admission; the server says it worked 0.15 s
    limiter.reconcile(estimated=1000, actual=1000, admission=decision, served=0.15)
    refused = limiter.acquire(tokens=1)  # counted from ~0.05 s after admission: leaves at ~0.35 s
    assert not refused.admitted and 0.1 < refused.retry_after <= 0.16


def test_served_never_moves_an_admission_before_it_was_admitted(make_limiter) -> None:
    limiter = make_limiter(requests=10, tokens=1000, window_seconds=0.3)
    decision = limiter.acquire(tokens=1000)
    limiter.reconcile(estimated=1000, actual=1000, admission=decision, served=10.0)  # a server's nonsense
    refused = limiter.acquire(tokens=1)
    assert not refused.admitted and refused.retry_after == pytest.approx(decision.at + 0.3 - refused.at, abs=2e-6)
