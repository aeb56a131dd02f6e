"""Benchmark the simulator: throughput and server overhead while it enforces limits.

Phase "throughput": limits far above the load (enforcement still runs on every request);
several client processes × threads with keep-alive httpx connections send small requests
for a fixed time. Reports the client-observed rate and latency, and the server's own
handling time (``/stats`` overhead_ms, and the ``openai-processing-ms`` header).
Phase "enforced": the same load against a low, time-scaled limit; the server's ``/stats``
prove that no window ever held more than the limit, and how full it was.

    uv run python bench/simulator.py [--seconds 10] [--processes 2] [--threads 4]

Prints one JSON object; also writes bench/out/simulator.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from project.launch import start_simulator

MODEL = "text-embedding-3-small"


def _drive(base_url: str, seconds: float, threads: int, worker: int) -> dict:
    """One client process: ``threads`` keep-alive clients posting small requests until time is up."""
    import httpx2

    deadline = time.perf_counter() + seconds
    results: list[tuple[int, float, int]] = []
    lock = threading.Lock()

    def loop(thread: int) -> None:
        local = []
        headers = {"authorization": "Bearer sk-bench"}
        with httpx2.Client(base_url=base_url, headers=headers, timeout=10) as client:
            i = 0
            while time.perf_counter() < deadline:
                payload = {"model": MODEL, "input": f"bench {worker}-{thread}-{i} small text", "encoding_format": "base64"}
                started = time.perf_counter()
                response = client.post("/embeddings", json=payload)
                elapsed = (time.perf_counter() - started) * 1000
                local.append((response.status_code, elapsed, int(response.headers.get("openai-processing-ms", "0"))))
                i += 1
        with lock:
            results.extend(local)

    pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return {"results": results}


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)  # noqa: E731
    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "mean": round(statistics.fmean(ordered), 3)}


def run_phase(args: argparse.Namespace, simulator_args: list[str]) -> dict:
    with start_simulator(*simulator_args) as sim:
        with ProcessPoolExecutor(args.processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(_drive, [sim.base_url] * args.processes, [0.5] * args.processes,
                          [1] * args.processes, range(args.processes)))  # warm up imports and connections
            sim.reset_stats()
            started = time.perf_counter()
            futures = [pool.submit(_drive, sim.base_url, args.seconds, args.threads, w) for w in range(args.processes)]
            results = [r for future in futures for r in future.result()["results"]]
            wall = time.perf_counter() - started
        stats = sim.stats()
    statuses: dict[str, int] = {}
    for status, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    ok = [r for r in results if r[0] == 200]
    return {
        "simulator_args": simulator_args,
        "wall_seconds": round(wall, 2),
        "requests": len(results),
        "statuses": statuses,
        "client_requests_per_second": round(len(results) / wall, 1),
        "client_successes_per_second": round(len(ok) / wall, 1),
        "client_latency_ms": _percentiles([r[1] for r in results]),
        "server_overhead_ms": stats["overhead_ms"],
        "openai_processing_ms": _percentiles([float(r[2]) for r in ok]),
        "server": {
            key: stats[key]
            for key in ("requests", "successes", "rate_limited", "requests_admitted", "tokens_admitted",
                        "max_requests_in_window", "max_tokens_in_window", "limits", "window_seconds", "utilization")
        },
        "limit_respected": (
            (stats["limits"]["rpm"] is None or stats["max_requests_in_window"] <= stats["limits"]["rpm"])
            and (stats["limits"]["tpm"] is None or stats["max_tokens_in_window"] <= stats["limits"]["tpm"])
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=4, help="client threads per process")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "simulator.json")
    args = parser.parse_args(argv)
    report = {
        "machine_cpus": multiprocessing.cpu_count(),
        "clients": {"processes": args.processes, "threads_per_process": args.threads},
        "throughput": run_phase(args, ["--rpm", "100000000", "--tpm", "1000000000"]),
        "enforced": run_phase(args, ["--rpm", "300", "--tpm", "100000", "--time-scale", "60"]),
    }
    throughput = report["throughput"]
    report["targets"] = {
        "requests_per_second_at_least_500": throughput["client_successes_per_second"] >= 500,
        "server_overhead_p50_below_2ms": throughput["server_overhead_ms"]["p50"] < 2.0,
        "limits_respected": throughput["limit_respected"] and report["enforced"]["limit_respected"],
    }
    text = json.dumps(report, indent=2)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0 if all(report["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
