"""A worker process for the concurrency test and the bench: threads acquiring until a deadline.

Each thread asks for a random number of tokens, sleeps the refusal's ``retry_after`` and asks
again for the same request until admitted, like a Celery task retried at the limiter's countdown.
Returns the admissions as (Redis time in microseconds, tokens).
"""

from __future__ import annotations

import os
import random
import threading
import time
from multiprocessing.pool import Pool

from ratelimit import Limiter, Limits

READY_TIMEOUT = 60.0  # seconds for every pool process to have started and imported this module
HEAD_START = 0.5  # seconds between "all ready" and the hammering's start


def _ready(_: int) -> int:
    time.sleep(0.05)  # long enough that one process cannot take every warm-up task
    return os.getpid()


def start_time(pool: Pool, processes: int) -> float:
    """When to start: once every process of ``pool`` has imported this module, plus a head start.

    A fixed delay after spawning is not enough on a busy machine: a late process shortens the
    run by what it missed, and the measured utilization with it.
    """
    deadline, seen = time.monotonic() + READY_TIMEOUT, set()
    while len(seen) < processes and time.monotonic() < deadline:
        seen |= set(pool.map(_ready, range(4 * processes), chunksize=1))
    return time.time() + HEAD_START


def hammer(url: str, account: str, limits: Limits, threads: int, start_at: float, seconds: float,
           sizes: tuple[int, int], seed: int) -> list[tuple[int, int]]:  # fmt: skip
    admitted: list[tuple[int, int]] = []
    lock = threading.Lock()
    stop_at = start_at + seconds

    def run(thread_seed: int) -> None:
        rng = random.Random(thread_seed)
        with Limiter.from_url(url, account=account, model="m", limits=limits) as limiter:
            time.sleep(max(0.0, start_at - time.time()))
            tokens = rng.randint(*sizes)
            while time.time() < stop_at:
                decision = limiter.acquire(tokens=tokens)
                if decision.admitted:
                    with lock:
                        admitted.append((round(decision.at * 1_000_000), tokens))
                    tokens = rng.randint(*sizes)
                else:
                    time.sleep(min(decision.retry_after, max(0.0, stop_at - time.time())))

    workers = [threading.Thread(target=run, args=(seed * 1000 + i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return admitted


def busiest_window(admissions: list[tuple[int, int]], window_us: int) -> tuple[int, int]:
    """The most requests and the most tokens admitted in any half-open interval of the window's length."""
    ordered = sorted(admissions)
    most_requests = most_tokens = tokens = 0
    first = 0
    for last, (at, size) in enumerate(ordered):
        tokens += size
        while at - ordered[first][0] >= window_us:
            tokens -= ordered[first][1]
            first += 1
        most_requests = max(most_requests, last - first + 1)
        most_tokens = max(most_tokens, tokens)
    return most_requests, most_tokens
