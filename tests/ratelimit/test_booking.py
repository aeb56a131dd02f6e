"""Booking (``book_within``): a short wait the pace or the log imposes is booked, not refused.

Callers waiting for the next slots queue in order, each told the moment it may send; the log
records each admission at that moment, so no window ever holds more than the limit.
"""

import threading
import time

import pytest


def test_waiters_book_the_next_slots_in_order(make_limiter) -> None:
    limiter = make_limiter(requests=1000, tokens=1000, window_seconds=10, burst=0.01)  # 100 tokens/s, 10 ms/token
    decisions = [limiter.acquire(tokens=20, book_within=1.0) for _ in range(5)]

    assert all(d.admitted for d in decisions), "a wait within the horizon was refused instead of booked"
    assert decisions[0].delay == 0.0
    gaps = [b.at - a.at for a, b in zip(decisions, decisions[1:])]
    assert gaps == pytest.approx([0.2] * 4, abs=0.02)  # one slot after another, at the pace
    assert [round(d.delay, 1) for d in decisions[1:]] == pytest.approx([0.2, 0.4, 0.6, 0.8], abs=0.05)


def test_a_wait_past_the_horizon_is_refused_and_consumes_nothing(make_limiter) -> None:
    limiter = make_limiter(requests=1000, tokens=1000, window_seconds=10, burst=0.01)
    for _ in range(6):
        assert limiter.acquire(tokens=20, book_within=1.0).admitted
    refused = limiter.acquire(tokens=20, book_within=1.0)  # the next slot is 1.2 s ahead
    assert not refused.admitted and refused.reason == "tokens"
    assert refused.retry_after == pytest.approx(1.2, abs=0.05)
    assert limiter.usage().tokens_used == 120


def test_a_full_window_is_booked_for_the_moment_it_frees(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=100, window_seconds=0.5)  # no pacing: the log alone
    first = limiter.acquire(tokens=100, pace=False)
    booked = limiter.acquire(tokens=50, pace=False, book_within=1.0)
    assert first.admitted and booked.admitted
    assert booked.at - first.at == pytest.approx(0.5, abs=0.01)  # when the first leaves the window
    later = limiter.acquire(tokens=60, pace=False, book_within=0.8)  # fits only once the booked 50 leave too
    assert not later.admitted and later.retry_after == pytest.approx(1.0, abs=0.02)


def test_a_cooldown_is_never_booked_through(make_limiter) -> None:
    limiter = make_limiter(requests=100, tokens=1000, window_seconds=10, burst=0.5)
    limiter.cooldown(0.5)
    refused = limiter.acquire(tokens=10, book_within=5.0)
    assert not refused.admitted and refused.reason == "cooldown"


def test_booked_admissions_never_put_more_than_the_limit_in_any_window(make_limiter) -> None:
    """40 threads booking as fast as they can: every window of the booked times holds at most the limit."""
    window, limit, size = 0.5, 400, 20
    limiter = make_limiter(requests=10_000, tokens=limit, window_seconds=window, burst=0.05)
    booked: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + 1.5

    def worker() -> None:
        while time.monotonic() < deadline:
            decision = limiter.acquire(tokens=size, book_within=0.3)
            if decision.admitted:
                with lock:
                    booked.append(decision.at)
                time.sleep(decision.delay)
            else:
                time.sleep(min(decision.retry_after, 0.05))

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    booked.sort()
    most = max(sum(1 for t in booked if start <= t < start + window) for start in booked) * size
    assert most <= limit, f"{most} tokens booked within one window of {window}s, limit {limit}"
    span = booked[-1] - booked[0]
    assert len(booked) * size >= 0.9 * limit * span / window, "booking left the pace's slots unused"


def test_an_unpaced_caller_fits_now_beside_bookings_ahead_as_the_windows_really_hold(make_limiter) -> None:
    """Bookings ahead count in every window that holds them, not in the one ending now: a query takes
    the reserve a backfill leaves at once, and no window holds more than the limit."""
    limiter = make_limiter(requests=100, tokens=100, window_seconds=1.0)
    now = limiter.acquire(tokens=90, reserve=0.1, pace=False)
    ahead = limiter.acquire(tokens=50, reserve=0.1, pace=False, book_within=2.0)  # when the 90 leave
    assert now.admitted and ahead.admitted and ahead.delay == pytest.approx(1.0, abs=0.02)

    query = limiter.acquire(tokens=10, pace=False, book_within=2.0)  # 90 + 10 now; 50 + 10 at the booked moment
    assert query.admitted and query.delay == 0.0
    over = limiter.acquire(tokens=1, pace=False)  # the window ending now is full
    assert not over.admitted and over.reason == "tokens"
