"""Benchmark of the shared limiter on its own embedded Redis; prints one JSON object.

- latency: acquire p50/p99 beside Redis PING p50/p99 in the same run (goal: acquire p50 <= 2x PING p50)
- throughput: acquires per second from 1 process and from 8 processes (limits never binding)
- exactness: 8 processes x 4 threads on one key, tokens binding, 3 windows of 2 s: the most
  admitted over any window (overshoot must be 0) and the utilization reached (goal >= 0.97)
- memory: MEMORY USAGE of one (account, model)'s keys after filling a 60 s window at Tier-5
  rates (10,000 RPM, 10,000,000 TPM) with 1,000-token requests

Run: ``uv run python bench/limiter.py`` (also writes bench/out/limiter.json).
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis

from bench.hammer import busiest_window, hammer, start_time
from project.embedded import EmbeddedRedis
from ratelimit import Limiter, Limits

ROOT = Path(__file__).resolve().parent.parent

SAMPLES = 5000
THROUGHPUT_SECONDS = 2.0
PROCESSES = 8
OPEN = Limits(requests=10**9, tokens=10**12, window_seconds=1.0)  # never binding: measures the call itself
EXACT = Limits(requests=10_000, tokens=150_000, window_seconds=2.0)
TIER5 = Limits(requests=10_000, tokens=10_000_000, window_seconds=60.0)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def latency(url: str) -> dict:
    with Limiter.from_url(url, account=f"lat-{uuid.uuid4().hex[:8]}", model="m", limits=OPEN) as limiter:
        client = limiter.storage.client
        ping, acquire = [], []
        for i in range(SAMPLES + 500):  # interleaved, so both see the same load; the first 500 warm up
            p, a = timed(client.ping, 1), timed(lambda: limiter.acquire(tokens=500), 1)
            if i >= 500:
                ping += p
                acquire += a
        entries = client.zcard(limiter.keys.log)
    return {
        "ping_p50_us": round(statistics.median(ping), 1),
        "ping_p99_us": round(percentile(ping, 0.99), 1),
        "acquire_p50_us": round(statistics.median(acquire), 1),
        "acquire_p99_us": round(percentile(acquire, 0.99), 1),
        "acquire_over_ping_p50": round(statistics.median(acquire) / statistics.median(ping), 2),
        "window_entries_during_run": entries,
    }


def spin(url: str, account: str, seconds: float, ready=None, results=None) -> int:
    with Limiter.from_url(url, account=account, model="m", limits=OPEN) as limiter:
        limiter.acquire(tokens=500)  # connected and the script loaded before the clock starts
        if ready is not None:
            ready.wait()
        done, stop_at = 0, time.monotonic() + seconds
        while time.monotonic() < stop_at:
            limiter.acquire(tokens=500)
            done += 1
    if results is not None:
        results.put(done)
    return done


def throughput(url: str, ctx) -> dict:
    account = f"tput-{uuid.uuid4().hex[:8]}"
    one = spin(url, account, THROUGHPUT_SECONDS) / THROUGHPUT_SECONDS
    ready, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [ctx.Process(target=spin, args=(url, account, THROUGHPUT_SECONDS, ready, results)) for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join()
    return {"acquires_per_s_1_process": round(one), f"acquires_per_s_{PROCESSES}_processes": round(total / THROUGHPUT_SECONDS)}


def exactness(url: str, ctx) -> dict:
    account = f"exact-{uuid.uuid4().hex[:8]}"
    windows = 3
    with ctx.Pool(PROCESSES) as pool:
        start_at = start_time(pool, PROCESSES)
        args = (url, account, EXACT, 4, start_at, windows * EXACT.window_seconds + 0.3, (100, 3000))
        admissions = [a for part in pool.starmap(hammer, [(*args, seed) for seed in range(PROCESSES)]) for a in part]
    most_requests, most_tokens = busiest_window(admissions, EXACT.window_us)
    begin = min(at for at, _ in admissions)
    run_tokens = sum(size for at, size in admissions if at < begin + windows * EXACT.window_us)
    return {
        "exactness_limits": {"requests": EXACT.requests, "tokens": EXACT.tokens, "window_seconds": EXACT.window_seconds},
        "clients": f"{PROCESSES} processes x 4 threads",
        "admissions": len(admissions),
        "max_requests_any_window": most_requests,
        "max_tokens_any_window": most_tokens,
        "overshoot_tokens": max(0, most_tokens - EXACT.tokens),
        "overshoot_requests": max(0, most_requests - EXACT.requests),
        "utilization": round(run_tokens / (windows * EXACT.tokens), 4),
    }


def memory(url: str) -> dict:
    with Limiter.from_url(url, account=f"tier5-{uuid.uuid4().hex[:8]}", model="text-embedding-3-small", limits=TIER5) as limiter:
        admitted = sum(limiter.acquire(tokens=1000).admitted for _ in range(TIER5.requests))
        refused = limiter.acquire(tokens=1000)
        client: redis.Redis = limiter.storage.client
        sizes = {key.rsplit(":", 1)[-1]: client.memory_usage(key, samples=0) for key in limiter.keys.all if client.exists(key)}
    total = sum(sizes.values())
    return {
        "tier5_limits": {"requests": TIER5.requests, "tokens": TIER5.tokens, "window_seconds": TIER5.window_seconds},
        "tier5_admitted": admitted,
        "tier5_next_refused": not refused.admitted,
        "bytes_per_key_tier5": total,
        "bytes_by_key_tier5": sizes,
        "bytes_per_admission_tier5": round(total / admitted, 1),
    }


def main() -> None:
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as home:
        server = EmbeddedRedis(Path(home))
        server.start()
        try:
            result = {"redis_version": redis.Redis.from_url(server.url).info()["redis_version"]}
            result |= latency(server.url)
            result |= throughput(server.url, ctx)
            result |= exactness(server.url, ctx)
            result |= memory(server.url)
        finally:
            server.stop()
    result["goals_met"] = {
        "acquire_p50_le_2x_ping": result["acquire_over_ping_p50"] <= 2.0,
        "overshoot_zero": result["overshoot_tokens"] == 0 and result["overshoot_requests"] == 0,
        "utilization_ge_0.97": result["utilization"] >= 0.97,
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "limiter.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
