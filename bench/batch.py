"""A backfill on the batch lane against the simulator's Batch API: wall time, cost, how full the queue stays.

One run, on embedded PostgreSQL and Redis, real workers and Celery beat, the simulator (exact
vectors, ``--vectors exact``, so its own CPU stays small) with the Tier-1 enqueued-token limit
(3,000,000 tokens, the default ``TOLLGATE_BATCH_QUEUE_TOKENS``). A batch takes
``--batch-seconds`` of the simulator's clock (scaled: ``--time-scale``). The corpus is ``--chunks``
distinct texts of about ``--chunk-tokens`` tokens each, ingested first; then one batch-lane job
embeds them at the model's 1,536 dimensions. Measured:

- wall time of the embedding, beside the ideal: the job's tokens through a queue that is always
  full, each turn taking one batch's duration;
- the cost on each lane: the sync lane's price, and what the batch lane paid (half);
- the share of the queue limit in use (the simulator's own count of enqueued tokens, sampled)
  while work was waiting to be submitted (goal >= 0.9);
- duplicates: inputs the simulator billed more than once (goal 0), and calls to /v1/embeddings (0).

    uv run python bench/batch.py [--chunks 100000] [--chunk-tokens 512] [--workers 2]
                                 [--batch-seconds 300] [--time-scale 10]

Prints one JSON object on stdout, progress on stderr; writes bench/out/batch.json and bench/out/batch.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import say  # noqa: E402  (after the path)
from bench.embedded_home import embedded_django  # noqa: E402  (after the path)
from bench.sampler import Sampler  # noqa: E402  (after the path)

OUT = ROOT / "bench" / "out"
GOAL_QUEUE_SHARE = 0.9
SAMPLE_SECONDS = 0.25


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="distinct chunks to embed (default 100,000)")
    parser.add_argument("--chunk-tokens", type=int, default=512, help="about this many tokens each (default 512)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--batch-seconds", type=float, default=300.0,
                        help="a batch's duration, simulator clock (default 300: 30 s of real time at --time-scale 10)")
    parser.add_argument("--time-scale", type=float, default=10.0, help="the simulator's clock speed (default 10)")
    parser.add_argument("--poll-seconds", type=float, default=0.5, help="TOLLGATE_BATCH_POLL_SECONDS (default 0.5)")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    with embedded_django("tollgate-batch-bench-", TOLLGATE_BATCH_POLL_SECONDS=str(args.poll_seconds)) as home:
        report = run(args, home)
    OUT.mkdir(parents=True, exist_ok=True)
    samples = report.pop("samples")
    (OUT / "batch.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, samples, OUT / "batch.png")
    print(json.dumps(report))
    return 0


def corpus(count: int, tokens: int) -> list:
    """``count`` distinct English-like texts of about ``tokens`` tokens (one chunk each)."""
    import numpy as np

    from project.embeddings.ingest.documents import TextInput

    words = ("limit window token request worker queue vector search gate road car speed batch lane file line "
             "price half day night store index segment graph build merge poll beat driver room wait").split()  # fmt: skip
    rng = np.random.default_rng(7)
    picks = rng.integers(0, len(words), size=(count, max(1, tokens - 16)))  # a word is a token: one chunk each
    return [TextInput(f"Text {i}. " + " ".join(words[j] for j in row) + ".", source=f"text-{i}")
            for i, row in enumerate(picks)]  # fmt: skip


def run(args: argparse.Namespace, home: Path) -> dict:
    from django.conf import settings

    from project.celery import app as celery_app
    from project.embeddings.ingest.documents import document_ingest
    from project.embeddings.jobs.cost import job_cost_usd, job_usd
    from project.embeddings.jobs.lifecycle import job_create, job_start
    from project.embeddings.models import Batch, BatchState, Lane
    from project.launch import simulator_args, start_beat, start_simulator, start_workers, wait_for_workers
    from project.pipeline import watch_job
    from project.provider import batch_queue_tokens

    started = time.monotonic()
    say(f"generating {args.chunks:,} texts of about {args.chunk_tokens} tokens")
    texts = corpus(args.chunks, args.chunk_tokens)
    say("ingesting")
    report = document_ingest(texts=texts, collection="batch-bench")
    ingest_seconds = time.monotonic() - started
    del texts
    say(f"ingested {len(report.documents):,} documents, {report.tokens:,} tokens in {ingest_seconds:.0f} s")

    window = 60.0 / args.time_scale
    limits = {"rpm": 10_000, "tpm": 10_000_000, "window_seconds": window}
    queue = batch_queue_tokens()
    extra = ["--vectors", "exact", "--batch-seconds", str(args.batch_seconds), "--batch-queue-tokens", str(queue)]
    with start_simulator(*simulator_args(**limits), *extra) as simulator:
        os.environ.update(OPENAI_BASE_URL=simulator.base_url, OPENAI_API_KEY="bench",
                          TOLLGATE_WINDOW_SECONDS=str(window))  # fmt: skip
        settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = simulator.base_url, "bench"
        settings.TOLLGATE_WINDOW_SECONDS = window
        pool = start_workers(args.workers, log_dir=home / "logs")
        beat = start_beat(schedule=home / "celerybeat-schedule", log_dir=home / "logs")
        try:
            wait_for_workers(celery_app, args.workers, pool=pool)
            job = job_create(documents=report.documents, lane=Lane.BATCH)
            embed_started = time.monotonic()
            with Sampler(queue_probe(simulator, job.pk), period=SAMPLE_SECONDS, at_start=True) as sampler:
                job_start(job=job)
                job = watch_job(job.pk, progress=False)
                wall = time.monotonic() - embed_started
            samples = sampler.samples
            stats = simulator.stats()
        finally:
            beat.stop()
            pool.stop()

    batches = list(Batch.objects.filter(job=job).values("state", "remote_status", "tokens", "requests"))
    waiting = [s for s in samples if s["waiting_tokens"] > 0]
    full_possible = [s for s in waiting if s["waiting_tokens"] >= queue - s["enqueued"]]
    share = sum(s["enqueued"] for s in waiting) / (queue * len(waiting)) if waiting else None
    strict = sum(s["enqueued"] for s in full_possible) / (queue * len(full_possible)) if full_possible else None
    batch_duration = args.batch_seconds / args.time_scale
    ideal = max(1.0, job.total_tokens / queue) * batch_duration  # turns of a full queue, each one batch long
    served = stats["batch"]["inputs_served"]
    return {
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "chunks": job.total_chunks,
        "tokens": job.total_tokens,
        "status": job.status,
        "embedded": job.embedded_chunks,
        "failed": job.failed_chunks,
        "ingest_seconds": round(ingest_seconds, 1),
        "wall_seconds": round(wall, 1),
        "ideal_seconds": round(ideal, 1),
        "wall_over_ideal": round(wall / ideal, 3),
        "queue_limit_tokens": queue,
        "batch_seconds_real": batch_duration,
        "batches": len(batches),
        "batches_refused": sum(1 for b in batches if b["state"] == BatchState.FAILED),
        "queue_share_while_waiting": round(share, 4) if share is not None else None,
        "queue_share_while_enough_waited": round(strict, 4) if strict is not None else None,
        "goal_queue_share": GOAL_QUEUE_SHARE,
        "max_enqueued_tokens": stats["batch"]["max_enqueued_tokens"],
        "cost_usd": {"sync_lane": job_usd(job.model, job.embedded_tokens), "batch_lane": job_cost_usd(job)},
        "duplicates": served["served"] - served["distinct"],
        "inputs_billed_most": served["most_per_input"],
        "sync_requests": stats["requests"],
        "samples": samples,
    }


def queue_probe(simulator, job_id: int) -> Callable[[float], dict | None]:
    """A probe for :class:`Sampler`: tokens the simulator holds enqueued, and tokens of ours not yet submitted."""
    from django.db.models import Q, Sum

    from project.embeddings.models import BatchState, EmbeddingGroup, GroupState

    unsubmitted = (BatchState.PREPARING, BatchState.UPLOADING, BatchState.UPLOADED)

    def probe(seconds: float) -> dict | None:
        try:
            enqueued = simulator.stats(per_input=False)["batch_enqueued_tokens"]
        except OSError:  # the simulator busy past the timeout (writing a batch's output): no sample
            return None
        unsent = EmbeddingGroup.objects.filter(job_id=job_id, lane="batch").filter(
            Q(state=GroupState.PENDING) | Q(state=GroupState.CLAIMED, batch__state__in=unsubmitted)
        )
        waiting = unsent.aggregate(tokens=Sum("tokens"))["tokens"] or 0
        return {"t": round(seconds, 3), "enqueued": enqueued, "waiting_tokens": waiting}

    return probe


def plot(report: dict, samples: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 4.2))
    t = [s["t"] for s in samples]
    ax.fill_between(t, [s["enqueued"] / 1e6 for s in samples], step="post", alpha=0.4, color="tab:blue",
                    label="tokens enqueued at the provider (simulator's count)")  # fmt: skip
    ax.step(t, [min(s["waiting_tokens"], report["queue_limit_tokens"] * 1.5) / 1e6 for s in samples], where="post",
            color="tab:orange", label="tokens waiting to be submitted (capped at 1.5x the limit)")  # fmt: skip
    ax.axhline(report["queue_limit_tokens"] / 1e6, color="tab:red", linestyle="--",
               label=f"enqueued-token limit: {report['queue_limit_tokens']:,}")  # fmt: skip
    ax.set_xlabel("seconds since the job started")
    ax.set_ylabel("million tokens")
    share = report["queue_share_while_waiting"]
    ax.set_title(f"batch lane: {report['chunks']:,} chunks, {report['tokens']:,} tokens in {report['wall_seconds']} s "
                 f"(ideal {report['ideal_seconds']} s); queue in use while work waited: "
                 f"{share if share is None else f'{share:.0%}'}; duplicates {report['duplicates']}", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
