"""Memory over a large job: the producer's and every worker's RSS, sampled each second, should stay flat.

The corpus of the throughput bench (``bench/throughput_corpus.py``: the standard library's
docstrings in marked copies, chunks of ~512 tokens) is ingested, then one job embeds all of
it: this process runs ``job_start`` and ``watch_job`` (the producer, as ``tollgate run``
does), and 4 Celery workers (``launch.start_workers``) embed against the simulator with no
limits (``--rpm 0 --tpm 0 --vectors exact``) at 1,536 dimensions, so the job goes as fast as
this machine allows and bulk mode loads it into segments, indexed as they close.
A thread samples RSS (psutil; a worker's children included) and the job's embedded chunks
every second. The slope is a least-squares fit of RSS against chunks done, in MB per 10,000
chunks, over the samples after the first 10% of the job (imports and pools warming up).

    uv run python bench/memory.py [--chunks 100000] [--workers 4]

Writes bench/out/memory.json and bench/out/memory.png; prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from bench.common import ROOT, say
from bench.sampler import Sampler, rss_mb

UNLIMITED = {"TOLLGATE_RPM": str(10**9), "TOLLGATE_TPM": str(10**12)}
GROUP_TOKENS = 10_000  # what Tier 1's 1% of TPM gives: ~20 chunks a request (the throughput bench's groups)
WARMUP_SHARE = 0.1
SAMPLE_SECONDS = 1.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks in the job (default 100,000)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dimensions", type=int, default=1536)
    parser.add_argument("--chunk-size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    return parser.parse_args()


def rss_probe(job_id: int, workers: list[int]) -> Callable[[float], dict]:
    """A probe for :class:`Sampler`: seconds since start, the job's chunks done, the producer's and each worker's RSS."""
    from project.embeddings.models import EmbeddingJob

    producer = psutil.Process(os.getpid())
    processes = [psutil.Process(pid) for pid in workers]

    def probe(seconds: float) -> dict:
        done = EmbeddingJob.objects.filter(pk=job_id).values_list("embedded_chunks", flat=True).first()
        return {"second": round(seconds, 1), "chunks": done or 0, "producer_mb": round(rss_mb(producer), 1),
                "workers_mb": [round(rss_mb(w), 1) for w in processes]}  # fmt: skip

    return probe


def slope(samples: list[dict], key, total_chunks: int) -> dict:
    """MB per 10,000 chunks (least squares) after the warm-up share, with start, end and peak RSS."""
    import numpy as np

    kept = [s for s in samples if s["chunks"] >= WARMUP_SHARE * total_chunks]
    values = [key(s) for s in samples]
    result = {"first_mb": values[0], "last_mb": values[-1], "max_mb": max(values)}
    if len(kept) >= 3 and kept[-1]["chunks"] > kept[0]["chunks"]:
        x = np.array([s["chunks"] for s in kept]) / 10_000
        fit = np.polyfit(x, np.array([key(s) for s in kept]), 1)
        result |= {"slope_mb_per_10k_chunks": round(float(fit[0]), 2), "fit_samples": len(kept)}
    return result


def main() -> int:
    args = parse_args()
    home = Path(tempfile.mkdtemp(prefix="tollgate-memory-"))
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "AZURE_OPENAI_ENDPOINT", "TOLLGATE_BULK_RESERVE", "TOLLGATE_BURST"):  # fmt: skip
        os.environ.pop(name, None)
    os.environ.update(TOLLGATE_HOME=str(home), TOLLGATE_DIMENSIONS=str(args.dimensions),
                      TOLLGATE_CHUNK_SIZE=str(args.chunk_size), TOLLGATE_GROUP_TOKENS=str(GROUP_TOKENS),
                      DJANGO_SETTINGS_MODULE="project.settings", **UNLIMITED)  # fmt: skip
    import django

    from project import embedded

    try:
        with embedded.started(home):
            django.setup()
            report = run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    from bench.memory_plots import memory_png

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory.json").write_text(json.dumps(report, indent=2) + "\n")
    memory_png(args.out / "memory.png", report)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    return 0


def run(args: argparse.Namespace, home: Path) -> dict:
    from django.conf import settings
    from django.core.management import call_command

    from bench.throughput_measure import wait_searchable
    from project.celery import app as celery_app
    from project.embeddings.jobs.lifecycle import job_create, job_start
    from project.embeddings.models import Document
    from project.launch import start_simulator, start_workers, wait_for_workers
    from project.pipeline import watch_job

    started, load = time.monotonic(), {"start": os.getloadavg()}
    call_command("migrate", verbosity=0)
    corpus = ingest(args)
    load["ingested"] = os.getloadavg()
    with start_simulator("--rpm", "0", "--tpm", "0", "--vectors", "exact", "--log-level", "warning") as sim:
        os.environ.update(OPENAI_BASE_URL=sim.base_url, OPENAI_API_KEY="bench-memory")
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = sim.base_url, "bench-memory"
        pool = start_workers(args.workers, log_dir=home / "logs")
        try:
            wait_for_workers(celery_app, args.workers, pool=pool, timeout=240)
            job = job_create(documents=list(Document.objects.all()))
            with Sampler(rss_probe(job.pk, [p.pid for p in pool.processes]), period=SAMPLE_SECONDS) as sampler:
                t0 = time.monotonic()
                job_start(job=job)
                job = watch_job(job.pk, progress=False)
                stored = time.monotonic() - t0
                searchable = wait_searchable(job) and time.monotonic() - t0
                time.sleep(2)
        finally:
            pool.stop()
    load["end"] = os.getloadavg()
    samples = sampler.samples
    total = job.total_chunks
    workers = {f"worker_{i}": slope(samples, lambda s, i=i: s["workers_mb"][i], total) for i in range(args.workers)}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    say(f"job: {job.embedded_chunks} chunks in {stored:.1f} s; producer {slope(samples, lambda s: s['producer_mb'], total)}")
    return {
        "bench": "memory",
        "command": "uv run python bench/memory.py " + " ".join(sys.argv[1:]),
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "loadavg_1_5_15": {k: [round(x, 2) for x in v] for k, v in load.items()}},
        "simulator": "--rpm 0 --tpm 0 --vectors exact", "dimensions": args.dimensions, "workers": args.workers,
        "worker_pool": f"{settings.CELERY_WORKER_POOL} x {settings.CELERY_WORKER_CONCURRENCY}",
        "group_tokens": GROUP_TOKENS, "corpus": corpus,
        "job": {"status": job.status, "chunks": total, "embedded": job.embedded_chunks, "failed": job.failed_chunks,
                "requests": job.requests, "bulk_mode": job.load_segment != 0,
                "stored_seconds": round(stored, 1), "searchable_seconds": searchable and round(searchable, 1),
                "chunks_per_s": round(job.embedded_chunks / stored, 1)},
        "rss": {"producer": slope(samples, lambda s: s["producer_mb"], total), **workers,
                "warmup_share_left_out": WARMUP_SHARE, "sample_seconds": SAMPLE_SECONDS, "samples": len(samples)},
        "bench_seconds": round(time.monotonic() - started, 1),
        "samples": samples,
    }  # fmt: skip


def ingest(args: argparse.Namespace) -> dict:
    from bench.throughput_corpus import marked_copy, module_texts
    from project.embeddings.ingest.documents import document_ingest

    started = time.perf_counter()
    texts, chunks, tokens, copy = module_texts(), 0, 0, 0
    while chunks < args.chunks:
        copy += 1
        report = document_ingest(texts=marked_copy(copy, texts), chunk_size=args.chunk_size)
        chunks, tokens = chunks + report.chunks, tokens + report.tokens
    seconds = time.perf_counter() - started
    say(f"corpus: {chunks} chunks, {tokens:,} tokens, ingested in {seconds:.1f} s")
    return {"source": "Python stdlib docstrings, marked copies (bench/throughput_corpus.py)", "copies": copy,
            "chunks": chunks, "tokens": tokens, "ingest_seconds": round(seconds, 1)}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
