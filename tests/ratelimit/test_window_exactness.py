"""8 processes x 4 threads share one key: the sliding window holds exactly, and is filled."""

import multiprocessing
import uuid

from bench.hammer import busiest_window, hammer, start_time
from ratelimit import Limits

PROCESSES, THREADS = 8, 4
WINDOW = 2.0
WINDOWS = 3
LIMITS = Limits(requests=10_000, tokens=150_000, window_seconds=WINDOW)  # tokens bind
SIZES = (100, 3000)


def test_many_processes_never_exceed_and_nearly_fill_the_window(redis_url: str) -> None:
    account = f"hammer-{uuid.uuid4().hex[:8]}"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        start_at = start_time(pool, PROCESSES)
        jobs = [
            pool.apply_async(hammer, (redis_url, account, LIMITS, THREADS, start_at, WINDOWS * WINDOW + 0.3, SIZES, seed))
            for seed in range(PROCESSES)
        ]
        admissions = [a for job in jobs for a in job.get(timeout=30)]
        pool.close()
        pool.join()

    most_requests, most_tokens = busiest_window(admissions, LIMITS.window_us)
    assert most_requests <= LIMITS.requests
    assert most_tokens <= LIMITS.tokens

    begin = min(at for at, _ in admissions)
    run = [size for at, size in admissions if at < begin + WINDOWS * LIMITS.window_us]
    utilization = sum(run) / (WINDOWS * LIMITS.tokens)
    assert utilization >= 0.97, f"admitted only {utilization:.3f} of what the limit allows"
