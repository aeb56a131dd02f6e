"""Throughput of tollgate's workers under one shared limit, beside the two ways people do it without one.

W Celery worker processes embed the same corpus (>= 20,000 distinct chunks of ~512 tokens,
ingested once) against the simulator at Tier-1 limits (3,000 RPM, 1,000,000 TPM), time-scaled
so a "minute" lasts 60/K seconds. Side by side, in the same run, on the same chunks and groups:

1. tollgate: ``embed_group`` tasks sharing the Redis sliding-window limiter, paced
   (``TOLLGATE_BURST``), and the same again unpaced (a pure sliding window) to show what pacing adds;
2. Celery's per-task ``rate_limit`` (the RPM, per worker) with ``autoretry_for`` on 429
   (``bench/throughput_naive.py``), the same W workers;
3. one process that sleeps a window on each 429 (``bench/throughput_baselines.py``).

Then a short job (two windows' tokens: goal wall <= 1.15x the sliding window's ideal; at the real
60 s window, where that goal applies, and again at the bench's scale, where a window is shorter
than this machine needs to process one) and the
ceiling (no limits: chunks/s beside COPY + one HNSW build of as many rows, measured in the same
run; goal >= 0.6 of it), both in ``bench/throughput_limits.py``; then tollgate again with
W = 1, 2, 4, 8, 16, 32 workers on a smaller slice of the corpus.
The simulator's ``/stats`` is the truth about the limit (the most tokens and requests in any
window, tokens admitted per second); the database is the truth about the rows (lost: a chunk
without an embedding; duplicates: a chunk with more than one).

The bench runs in its own temporary TOLLGATE_HOME (fresh embedded PostgreSQL+pgvector and
Redis) at the model's own 1,536 dimensions (``--dimensions 256`` for the old, lighter shape).
A job this size runs in bulk mode: its rows are loaded into segments, each indexed in bulk as it
closes (the JSON's ``bulk_mode`` and ``index_builds``); what the live index's row-by-row upkeep
would cost instead is in the JSON as ``insert_cost``.

    uv run python bench/throughput.py [--workers 4] [--time-scale 10] [--latency-ms 0] [--quick]

Prints one JSON object on stdout, a table on stderr; writes bench/out/throughput.json,
bench/out/throughput_timeline.png and bench/out/throughput_vs_workers.png.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, say
from bench.throughput_common import RPM, TPM


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=4, help="W for the side-by-side comparison (default 4)")
    parser.add_argument("--time-scale", type=float, default=10.0, help="K: a minute lasts 60/K s (default 10)")
    parser.add_argument("--chunks", type=int, default=20_000, help="corpus size in chunks (default 20,000)")
    parser.add_argument("--chunk-size", type=int, default=512, help="tokens per chunk (default 512)")
    parser.add_argument("--dimensions", type=int, default=1536, help="vector size (default 1536, the model's own)")
    parser.add_argument("--sweep", default="1,2,4,8,16,32", help="worker counts for the sweep")
    parser.add_argument("--sweep-chunks", type=int, default=6_000, help="chunks per sweep point (default 6,000)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the simulator's latency per request (default 0)")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: unpaced,naive,loop,sweep,short,ceiling"
    )
    parser.add_argument(
        "--vectors", choices=("exact", "semantic"), default="exact",
        help="the simulator's vectors (default exact: SHAKE-256, 0.5 ms a 1,536-d row against 2-5 ms for semantic; "
        "a real provider's compute is not on this machine, so the simulator should take as little of it as it can)",
    )  # fmt: skip
    parser.add_argument("--ceiling-chunks", type=int, default=4_000, help="chunks for the ceiling (default 4,000)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5,000 chunks, sweep 1,4 on 4,000")
    args = parser.parse_args()
    if args.quick:
        args.chunks, args.sweep, args.sweep_chunks = 5_000, "1,4", 4_000
    args.sweep = [int(w) for w in args.sweep.split(",") if w]
    args.skip = set(filter(None, args.skip.split(",")))
    return args


def environment(args: argparse.Namespace, home: Path) -> None:
    """Settings for this process and every worker it starts, before Django reads them."""
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                 "AZURE_OPENAI_ENDPOINT", "TOLLGATE_GROUP_TOKENS", "TOLLGATE_BULK_RESERVE", "TOLLGATE_BURST"):  # fmt: skip
        os.environ.pop(name, None)
    os.environ.update(
        TOLLGATE_HOME=str(home),
        TOLLGATE_DIMENSIONS=str(args.dimensions),
        TOLLGATE_RPM=str(RPM),
        TOLLGATE_TPM=str(TPM),
        TOLLGATE_WINDOW_SECONDS=repr(60.0 / args.time_scale),
        TOLLGATE_CHUNK_SIZE=str(args.chunk_size),
        DJANGO_SETTINGS_MODULE="project.settings",
    )


def main() -> int:
    args = parse_args()
    home = Path(tempfile.mkdtemp(prefix="tollgate-throughput-"))
    environment(args, home)
    import django

    from project import embedded

    try:
        with embedded.started(home):
            django.setup()
            return Bench(args, home).run()
    finally:
        shutil.rmtree(home, ignore_errors=True)


class Bench:
    """One run: its arguments, home and settings, the simulator and window of the moment, the corpus.

    The configurations (``bench/throughput_runs.py``), the short job and the ceiling
    (``bench/throughput_limits.py``) take it; those two point it at a simulator of their own
    for their runs, and back.
    """

    def __init__(self, args: argparse.Namespace, home: Path):
        from django.conf import settings

        self.args, self.home, self.settings = args, home, settings
        self.window = settings.TOLLGATE_WINDOW_SECONDS
        self.model, self.dimensions = settings.TOLLGATE_MODEL, settings.TOLLGATE_DIMENSIONS

    # --- the whole run ----------------------------------------------------------------------
    def run(self) -> int:
        from django.core.management import call_command

        from bench.throughput_limits import ceiling, short_job
        from bench.throughput_report import report, write
        from bench.throughput_runs import loop, naive, sweep, tollgate
        from project.launch import start_simulator

        started = time.monotonic()
        args = self.args
        call_command("migrate", verbosity=0)
        with start_simulator("--rpm", str(RPM), "--tpm", str(TPM), "--time-scale", repr(args.time_scale),
                             "--latency-ms", repr(args.latency_ms), "--vectors", args.vectors,
                             "--log-level", "warning") as sim:  # fmt: skip
            self.sim = sim
            self.provider(sim.base_url, "bench-setup")
            corpus = self.ingest()
            cost = self.insert_cost()
            groups = self.groups(corpus["document_ids"])
            comparison = [tollgate(self, f"tollgate-w{args.workers}", corpus["document_ids"], args.workers, None)]
            if "unpaced" not in args.skip:  # the same, as a pure sliding window (no pacing): what pacing adds
                comparison.append(tollgate(self, f"tollgate-unpaced-w{args.workers}", corpus["document_ids"],
                                           args.workers, None, env={"TOLLGATE_BURST": "0"}))  # fmt: skip
            if "naive" not in args.skip:
                comparison.append(naive(self, corpus["document_ids"], groups, args.workers))
            if "loop" not in args.skip:
                comparison.append(loop(self, corpus["document_ids"], groups))
            short = short_job(self, time_scale=1.0) if "short" not in args.skip else None
            short_scaled = short_job(self) if "short" not in args.skip else None
            limit = ceiling(self) if "ceiling" not in args.skip else None
            points = sweep(self) if "sweep" not in args.skip else []
        result = report(self, corpus=corpus, cost=cost, groups=groups, comparison=comparison, sweep=points,
                        short=short, short_scaled=short_scaled, ceiling=limit, seconds=time.monotonic() - started)  # fmt: skip
        write(self, result, comparison, points)
        return 0

    def provider(self, base_url: str, api_key: str) -> None:
        """Point this process (and the workers it starts next) at the simulator under ``api_key``.

        Each configuration uses a key of its own: the limiter keys its state by account, so every
        configuration starts with an empty window, as the simulator does after its reset.
        """
        os.environ.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY=api_key)
        self.settings.OPENAI_BASE_URL, self.settings.OPENAI_API_KEY = base_url, api_key

    # --- corpus ---------------------------------------------------------------------------------
    def ingest(self) -> dict:
        from django.db.models import Avg, Count, Sum

        from bench.throughput_corpus import marked_copy, module_texts
        from project.embeddings.ingest.documents import document_ingest
        from project.embeddings.models import Chunk

        started = time.perf_counter()
        texts = module_texts()
        documents, chunks, copy = [], 0, 0
        while chunks < self.args.chunks:
            copy += 1
            report = document_ingest(texts=marked_copy(copy, texts), chunk_size=self.args.chunk_size)
            documents += report.documents
            chunks += report.chunks
        seconds = time.perf_counter() - started
        numbers = Chunk.objects.aggregate(
            chunks=Count("id"), distinct=Count("content_hash", distinct=True), tokens=Sum("token_count"),
            mean=Avg("token_count"),
        )  # fmt: skip
        say(f"corpus: {numbers['chunks']} chunks ({numbers['distinct']} distinct), {numbers['tokens']:,} tokens, "
            f"{len(documents)} documents, ingested in {seconds:.1f} s")  # fmt: skip
        return {
            "source": f"Python {sys.version.split()[0]} stdlib docstrings, {copy} marked copies",
            "documents": len(documents),
            "document_ids": [d.pk for d in documents],
            "chunks": numbers["chunks"],
            "distinct_chunk_texts": numbers["distinct"],
            "tokens": numbers["tokens"],
            "mean_tokens_per_chunk": round(numbers["mean"], 1),
            "chunk_size": self.args.chunk_size,
            "ingest_seconds": round(seconds, 1),
        }

    def insert_cost(self) -> dict:
        from bench.throughput_measure import insert_cost
        from project.embeddings.models import Chunk

        ids = list(Chunk.objects.values_list("pk", flat=True)[:3000])
        cost = insert_cost(ids, model=self.model, dimensions=self.dimensions)
        say(f"insert cost: {cost['ms_per_row']} ms per {self.dimensions}-d row into the HNSW index")
        return cost

    def groups(self, document_ids: list[int]) -> list[list[int]]:
        """tollgate's own packing of the whole corpus, reused by the baselines (same requests)."""
        from project.embeddings.jobs.lifecycle import job_create
        from project.embeddings.models import Document
        from project.embeddings.plan.enqueue import job_plan

        job = job_create(documents=list(Document.objects.filter(pk__in=document_ids)))
        plan = job_plan(job)
        job.delete()
        return plan.groups

    def subset(self, chunks: int) -> list[int]:
        from django.db.models import Count

        from project.embeddings.models import Document

        chosen, total = [], 0
        for pk, count in Document.objects.annotate(n=Count("chunks")).order_by("pk").values_list("pk", "n"):
            if total >= chunks:
                break
            chosen.append(pk)
            total += count
        return chosen

    def subset_tokens(self, tokens: int) -> list[int]:
        """Documents whose chunks hold about ``tokens`` tokens, in order."""
        from django.db.models import Sum

        from project.embeddings.models import Document

        chosen, total = [], 0
        for pk, count in Document.objects.annotate(n=Sum("chunks__token_count")).order_by("pk").values_list("pk", "n"):
            if total + (count or 0) > tokens:
                break
            chosen.append(pk)
            total += count or 0
        return chosen


if __name__ == "__main__":
    sys.exit(main())
