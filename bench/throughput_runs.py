"""The configurations the throughput bench runs, each from an empty table on a fresh key, measured alike.

- :func:`tollgate`: W workers sharing the limiter (paced, or unpaced with ``TOLLGATE_BURST=0``);
  :func:`sweep` runs it again at each W of ``--sweep``;
- :func:`naive`: W Celery workers with ``rate_limit`` and ``autoretry_for`` (``bench/throughput_naive.py``);
- :func:`loop`: one process sleeping a window on each 429 (``bench/throughput_baselines.py``).

Each takes the bench (``bench/throughput.py``'s ``Bench``: its simulator, window, settings and
home) and returns :func:`measure`'s row: the simulator's truth, the database's, the CPU's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.common import ROOT, say
from bench.errors import Deadline
from bench.sampler import CpuMeter, Sampler
from bench.throughput_baselines import client, sleepy_loop
from bench.throughput_common import BOOT_TIMEOUT, RPM, RUN_TIMEOUT, TPM
from bench.throughput_measure import (
    database_truth,
    index_builds,
    job_span,
    limiter_probe,
    limiter_summary,
    reset_embeddings,
    server_truth,
    wait_searchable,
)


def prepare(bench, name: str) -> None:
    reset_embeddings()
    bench.provider(bench.sim.base_url, f"bench-{name}")


def start_clock(bench) -> tuple[float, CpuMeter]:
    bench.sim.reset_limits()
    bench.sim.reset_stats()
    return time.monotonic(), CpuMeter()


def measure(bench, name: str, kind: str, document_ids: list[int], wall: float, cpu, **extra) -> dict:
    stats = bench.sim.stats()
    result = {
        "name": name,
        "kind": kind,
        **extra,
        "wall_seconds": round(wall, 2),
        "windows": round(wall / bench.window, 2),
        **server_truth(stats, window_seconds=bench.window, rpm=RPM, tpm=TPM, wall_seconds=wall),
        **database_truth(document_ids),
        **cpu.result(),
        "timeline": [[e["second"], e["tokens"]] for e in stats["timeline"]],
    }
    say(f"{name}: {wall:.1f} s, steady utilization {result['steady_utilization']}, "
        f"overall {result['overall_utilization']}, 429s {result['http_429']}, lost {result['lost']}, "
        f"duplicates {result['duplicates']}, max tokens in a window {result['max_tokens_in_window']:,}, "
        f"CPU busy {result['machine_cpu_busy']}")  # fmt: skip
    if extra.get("searchable_seconds"):
        say(f"{name}: stored in {extra['stored_seconds']} s, every vector indexed at {extra['searchable_seconds']} s "
            f"(bulk mode: {extra['bulk_mode']}; builds {extra['index_builds']})")  # fmt: skip
    return result


def tollgate(
    bench, name: str, document_ids: list[int], workers: int, concurrency: int | None, env: dict | None = None
) -> dict:
    from project.celery import app as celery_app
    from project.embeddings.jobs.lifecycle import job_cancel, job_create, job_start
    from project.embeddings.models import Document, EmbeddingJob
    from project.launch import start_workers
    from project.pipeline import watch_job
    from project.provider import shared_limiter

    prepare(bench, name)
    celery_app.control.purge()
    say(f"{name}: starting {workers} tollgate workers")
    pool = start_workers(workers, concurrency=concurrency, env=env, log_dir=bench.home / "logs" / name)
    job = job_create(documents=list(Document.objects.filter(pk__in=document_ids)))
    try:
        boot = wait_for(celery_app, workers)
        t0, cpu = start_clock(bench)
        plan, enqueued, stored, searchable = None, 0.0, None, None
        try:
            with (
                alarm_after(RUN_TIMEOUT),
                Sampler(limiter_probe(shared_limiter(bench.model), bench.sim), period=0.5) as sampler,
            ):
                plan = job_start(job=job)
                enqueued = time.monotonic() - t0
                job = watch_job(job.pk, progress=True)
                stored = time.monotonic() - t0
                searchable = wait_searchable(job) and time.monotonic() - t0
        except Deadline:
            job_cancel(job_id=job.pk)
            job = EmbeddingJob.objects.get(pk=job.pk)
        wall = time.monotonic() - t0
    finally:
        pool.stop()
    return measure(
        bench, name, "tollgate", document_ids, wall, cpu,
        workers=workers, concurrency=concurrency or bench.settings.CELERY_WORKER_CONCURRENCY,
        boot_seconds=round(boot, 1), enqueue_seconds=round(enqueued, 2), groups=len(plan.groups) if plan else None,
        limiter_vs_server=limiter_summary(sampler.samples, window_seconds=bench.window, tpm=TPM),
        job_span_seconds=round(job_span(job), 2), job_tokens=job.total_tokens,
        stored_seconds=stored and round(stored, 2), searchable_seconds=searchable and round(searchable, 2),
        bulk_mode=job.load_segment != 0, index_builds=index_builds(),
        job={"status": job.status, "embedded": job.embedded_chunks, "failed": job.failed_chunks,
             "requests": job.requests, "http_429": job.http_429, "limiter_waits": job.limiter_waits,
             "last_error": job.last_error},
    )  # fmt: skip


def sweep(bench) -> list[dict]:
    """tollgate again at each W of ``--sweep`` on a slice of the corpus; W >= 16 with one task a worker."""
    from project.errors import LaunchError

    subset = bench.subset(bench.args.sweep_chunks)
    points = []
    for workers in bench.args.sweep:
        concurrency = 1 if workers >= 16 else None
        try:
            points.append(tollgate(bench, f"sweep-w{workers}", subset, workers, concurrency))
        except LaunchError as exc:  # workers that never came up: say so, keep the other points
            say(f"sweep-w{workers}: {exc}")
            points.append({"name": f"sweep-w{workers}", "workers": workers, "error": str(exc)})
    return points


def naive(bench, document_ids: list[int], groups: list[list[int]], workers: int) -> dict:
    import redis

    name = f"celery-rate-limit-w{workers}"
    prepare(bench, name)
    rate = f"{RPM * bench.args.time_scale:g}/m"
    os.environ["THROUGHPUT_NAIVE_RATE_LIMIT"] = rate
    from bench import throughput_naive  # here: it reads its rate limit as it is imported

    throughput_naive.app.control.purge()
    concurrency = bench.settings.CELERY_WORKER_CONCURRENCY
    say(f"{name}: starting {workers} Celery workers with rate_limit={rate!r}")
    processes, logs = [], bench.home / "logs" / name
    logs.mkdir(parents=True, exist_ok=True)
    for index in range(workers):
        command = [
            sys.executable, "-m", "celery", "-A", "bench.throughput_naive", "worker",
            "--hostname", f"naive{index}-{os.getpid()}@%h", "--queues", throughput_naive.QUEUE,
            "--pool", "threads", "--concurrency", str(concurrency),
            "--without-mingle", "--without-gossip", "--loglevel", "WARNING",
        ]  # fmt: skip
        with open(logs / f"worker-{index}.log", "ab") as output:
            processes.append(subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                              stderr=output))  # fmt: skip
    counters = redis.Redis.from_url(bench.settings.REDIS_URL)
    run = f"throughput-bench:{name}:{os.getpid()}"
    try:
        boot = wait_for(throughput_naive.app, workers)
        t0, cpu = start_clock(bench)
        for group in groups:
            throughput_naive.naive_embed.apply_async(args=(group, run))
        deadline, ok, failed = t0 + RUN_TIMEOUT, 0, 0
        while time.monotonic() < deadline:
            ok, failed = (int(counters.get(f"{run}:{key}") or 0) for key in ("ok", "failed"))
            if ok + failed >= len(groups):
                break
            time.sleep(0.1)
        wall = time.monotonic() - t0
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return measure(
        bench, name, "celery rate_limit + autoretry_for", document_ids, wall, cpu,
        workers=workers, concurrency=concurrency, boot_seconds=round(boot, 1), groups=len(groups),
        rate_limit=rate, tasks={"succeeded": ok, "gave_up": failed, "unfinished": len(groups) - ok - failed},
        retry="autoretry_for=(openai.RateLimitError,), retry_backoff=True (1, 2, 4 s, full jitter), "
              "max_retries=3 (Celery's defaults; real seconds, not scaled)",
    )  # fmt: skip


def loop(bench, document_ids: list[int], groups: list[list[int]]) -> dict:
    name = "sleep-on-429-loop"
    prepare(bench, name)
    say(f"{name}: one process, time.sleep({bench.window:g}) on each 429")
    api = client(bench.sim.base_url, f"bench-{name}")
    t0, cpu = start_clock(bench)
    result = sleepy_loop(api, groups, model=bench.model, dimensions=bench.dimensions, window_seconds=bench.window)
    wall = time.monotonic() - t0
    return measure(
        bench, name, "single-process loop, sleep a window on 429", document_ids, wall, cpu,
        workers=1, concurrency=1, groups=len(groups), seconds_asleep=round(result.seconds_asleep, 1),
    )  # fmt: skip


def wait_for(app, count: int) -> float:
    """Seconds until ``count`` workers of ``app`` answer a ping."""
    from project.launch import wait_for_workers

    started = time.monotonic()
    wait_for_workers(app, count, timeout=BOOT_TIMEOUT)
    return time.monotonic() - started


@contextmanager
def alarm_after(seconds: int) -> Iterator[None]:
    """Raise :class:`Deadline` in this (the main) thread if the block is still running after ``seconds``."""

    def alarm(signum, frame):
        raise Deadline(seconds)

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
