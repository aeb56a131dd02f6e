"""pgai's vectorizer worker beside tollgate on the same short documents, simulator and PostgreSQL, in one run.

The shape users hit most (tickets, product descriptions: ~70-token documents, 790,000 tokens,
about five windows) at the scaled limits (150,000 TPM per 6 s window, 120 ms latency): tollgate
at W = 4 and W = 8 (``tollgate run``, through ``shapes.run_cell``), then pgai 0.12.1's worker
at concurrency 4 (``bench/peer_pgai``, in its own virtualenv), each against a fresh simulator.
Both are read the same way: the provider's window fill over the steady state
(``shapes_measure.long_utilization``), the busy span, 429s, and the inputs paid more than once
(pgai does not deduplicate, so the corpus's own exact duplicates are counted apart).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bench.common import say
from bench.peer_pgai import run_pgai
from bench.peer_pgai.truth import simulator_truth
from bench.shapes_corpus import write_corpus
from bench.shapes_measure import busy_span, long_utilization

__all__ = ["peer_beside"]

SIZE, TOKENS = 70, 790_000
CONCURRENCY = 4


def peer_beside(*, home: Path, database_url: str, redis_url: str, cache: Path, cells: list[dict],
                run_cell: Callable[..., dict], limits) -> dict:  # fmt: skip
    """tollgate at W = 4 and 8, then pgai at concurrency 4, on the short documents; the same figures for each."""
    from project.launch import simulator_args, start_simulator

    corpus = cache / f"peer-docs-{SIZE}-{TOKENS}"
    if not corpus.exists():
        write_corpus(corpus, tokens=SIZE, total_tokens=TOKENS)
    texts = [path.read_text(encoding="utf-8") for path in sorted(corpus.glob("*.txt"))]
    side: dict[str, dict] = {}
    for workers in (4, 8):
        say(f"peer comparison: tollgate W={workers} on {len(texts)} documents of ~{SIZE} tokens …")
        cell = run_cell(home=home, redis_url=redis_url, database_url=database_url, limits=limits, size=SIZE,
                        workers=workers, length="long", corpus=corpus)  # fmt: skip
        side[f"tollgate_w{workers}"] = cell
        say(f"  utilization {cell['utilization']}, busy {cell['busy_seconds']} s, {cell['http_429']} × 429")
    say(f"peer comparison: pgai vectorizer worker, concurrency {CONCURRENCY} …")
    with start_simulator(*simulator_args(rpm=limits.rpm, tpm=limits.tpm, window_seconds=limits.window),
                         "--latency-ms", "120") as sim:  # fmt: skip
        sim.reset_stats()
        started = time.monotonic()
        run = run_pgai(database_url=database_url, base_url=sim.base_url, api_key="sk-bench-peer",
                       model="text-embedding-3-small", dimensions=1536, corpus=corpus, concurrency=CONCURRENCY,
                       timeout=1800)  # fmt: skip
        stats = sim.stats(admissions=True)
    truth = simulator_truth(stats, texts)
    admissions = stats["admissions"]
    side["pgai"] = {
        "version": run.pgai_version,
        "concurrency": CONCURRENCY,
        "utilization": long_utilization(admissions, window=limits.window, tpm=limits.tpm),
        "busy_seconds": round(busy_span(admissions), 2),
        "wall_seconds": round(time.monotonic() - started, 1),
        "all_embedded": run.finished,
        "embedded": run.embedded,
        "errors": run.errors[:5],
        **{key: truth[key] for key in ("http_429", "max_tokens_in_window", "max_requests_in_window", "tokens_admitted")},
        "inputs_paid_beyond_corpus": truth["inputs_paid_beyond_corpus"],
        "corpus_duplicates_paid_again": truth["corpus_duplicates_served"],
        "worker_cpu_seconds": run.worker_cpu_seconds,
    }
    say(f"  pgai: utilization {side['pgai']['utilization']}, busy {side['pgai']['busy_seconds']} s, "
        f"{side['pgai']['http_429']} × 429")  # fmt: skip
    ahead = side["tollgate_w4"]["utilization"] or 0
    return {
        "shape": {"size": SIZE, "tokens": TOKENS, "limits": vars(limits)},
        "runs": side,
        "goal_ahead_of_pgai_and_at_least_0.95": {
            "met": ahead >= 0.95 and ahead > (side["pgai"]["utilization"] or 0),
            "tollgate_w4": ahead, "pgai": side["pgai"]["utilization"],
        },  # fmt: skip
    }
