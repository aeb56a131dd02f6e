"""The interactive lane: a search's query embedding while a backfill saturates the shared limit.

A backfill job (bulk ``embed_group`` tasks on W real worker processes) fills the tokens-per-
window limit against the simulator; meanwhile this process times N queries through
``project.search.embed_query`` (reserve 0), the path ``/api/search`` takes. Run twice: with the
default ``TOLLGATE_BULK_RESERVE`` (bulk leaves that share free) and with 0 for contrast.
An unloaded query first measures the provider's own latency, so ``wait`` = total − latency.

    uv run python bench/interactive.py [--queries 30] [--reserve 0.02] [--workers 2]

Prints one JSON object on stdout; writes bench/out/interactive.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from bench.common import ROOT, percentile, say
from bench.embedded_home import embedded_django

RPM, TPM = 600, 30_000  # per window: a small account, so a 2-core machine can saturate it
WINDOW = 6.0  # seconds: a "minute" at ten times speed, like the demo
LATENCY_MS = 50  # the simulator's latency per request
SATURATED = 0.9  # share of the token window that counts as saturated


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=30, help="queries timed per configuration (default 30)")
    parser.add_argument("--reserve", type=float, default=0.02, help="TOLLGATE_BULK_RESERVE to test (default 0.02)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--chunks", type=int, default=4000, help="backfill chunks per run (default 4,000)")
    parser.add_argument("--group-tokens", type=int, default=300,
                        help="tokens per bulk request (default 300, 1%% of TPM: groups fill the window to the brim)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    env = dict(
        TOLLGATE_DIMENSIONS="256", TOLLGATE_RPM=str(RPM), TOLLGATE_TPM=str(TPM),
        TOLLGATE_WINDOW_SECONDS=repr(WINDOW), TOLLGATE_CHUNK_SIZE="128", TOLLGATE_CHUNK_OVERLAP="0",
        TOLLGATE_GROUP_TOKENS=str(args.group_tokens),
    )  # fmt: skip
    with embedded_django("tollgate-interactive-", **env):
        return run(args)


def run(args: argparse.Namespace) -> int:
    from django.conf import settings

    from project.launch import start_simulator

    with start_simulator("--rpm", str(RPM), "--tpm", str(TPM), "--time-scale", repr(60 / WINDOW),
                         "--latency-ms", str(LATENCY_MS), "--log-level", "warning") as sim:  # fmt: skip
        os.environ.update(OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY="bench-interactive")
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = sim.base_url, "bench-interactive"
        unloaded = time_queries(args.queries, "unloaded")
        runs = [backfill_run(args, reserve, sim) for reserve in (args.reserve, 0.0)]
    result = {
        "limits": {"rpm": RPM, "tpm": TPM, "window_seconds": WINDOW, "simulator_latency_ms": LATENCY_MS},
        "workers": args.workers,
        "concurrency": args.concurrency,
        "group_tokens": args.group_tokens,
        "queries": args.queries,
        "unloaded": summary(unloaded, None),
        "runs": [{**run, "queries": summary(run.pop("times"), statistics.median(unloaded))} for run in runs],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "interactive.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


def summary(times: list[float], latency: float | None) -> dict:
    out = {"p50_seconds": round(percentile(times, 0.5), 4), "p95_seconds": round(percentile(times, 0.95), 4),
           "max_seconds": round(max(times), 4)}  # fmt: skip
    if latency is not None:
        waits = [max(0.0, t - latency) for t in times]
        out |= {"wait_p50_seconds": round(percentile(waits, 0.5), 4), "wait_p95_seconds": round(percentile(waits, 0.95), 4)}
    return out


def time_queries(count: int, label: str, pause: float = 0.2) -> list[float]:
    from project.embeddings.search.query import embed_query

    times = []
    for index in range(count):
        started = time.monotonic()
        embed_query(f"query {label} {index}: where does the toll gate pace the traffic?")
        times.append(time.monotonic() - started)
        time.sleep(pause)
    return times


def backfill_run(args: argparse.Namespace, reserve: float, sim) -> dict:
    """Saturate the limit with a backfill on fresh workers started with this reserve, then time queries."""
    from django.conf import settings

    from project.celery import app as celery_app
    from project.embeddings.ingest.documents import TextInput, document_ingest
    from project.embeddings.jobs.lifecycle import job_cancel, job_create, job_start
    from project.embeddings.models import EmbeddingJob
    from project.launch import start_workers, wait_for_workers
    from project.provider import shared_limiter

    celery_app.control.purge()
    words = "limit window token request worker queue vector search gate road car speed lane toll".split()
    texts = [
        TextInput(f"reserve {reserve} chunk {i}. " + " ".join(words[(i * 5 + j * 3) % len(words)] for j in range(90)))
        for i in range(args.chunks)
    ]
    documents = document_ingest(texts=texts, collection=f"backfill-{reserve}").documents
    pool = start_workers(args.workers, concurrency=args.concurrency, env={"TOLLGATE_BULK_RESERVE": repr(reserve)},
                         log_dir=Path(settings.TOLLGATE_HOME) / "logs")  # fmt: skip
    try:
        wait_for_workers(celery_app, args.workers, pool=pool)
        job = job_create(documents=documents)
        job_start(job=job)
        limiter = shared_limiter(settings.TOLLGATE_MODEL)
        deadline = time.monotonic() + 60
        while limiter.usage().tokens_used < SATURATED * TPM and time.monotonic() < deadline:
            time.sleep(0.1)
        sim.reset_stats()
        usage = []
        times = []
        for index in range(args.queries):
            usage.append(limiter.usage().tokens_used / TPM)
            times += time_queries(1, f"r{reserve}-{index}", pause=0.3)
        job.refresh_from_db()
        say(f"reserve {reserve}: p50 {percentile(times, 0.5):.3f} s, p95 {percentile(times, 0.95):.3f} s, "
            f"backfill {job.embedded_chunks}/{job.total_chunks} chunks embedded meanwhile")  # fmt: skip
        stats = sim.stats()
        return {
            "bulk_reserve": reserve,
            "tpm_used_while_querying_mean": round(statistics.mean(usage), 3),
            "backfill_still_running": job.status == EmbeddingJob.Status.RUNNING,
            "backfill_chunks_embedded": job.embedded_chunks,
            "simulator_rate_limited": stats.get("rate_limited"),
            "times": times,
        }
    finally:
        job_cancel(job_id=job.pk)
        pool.stop()
        celery_app.control.purge()


if __name__ == "__main__":
    sys.exit(main())
