"""What the throughput bench measures: the simulator's ground truth, the database's rows, the limiter's belief.

Utilization comes from the simulator's per-second timeline of admitted tokens. A sliding
window admits a whole window's worth at once at the start, so the steady state leaves out
the first window and the tail after the last admission: it is the mean, over every whole
window that starts at least one window after the first admission and ends by the last
admission's second, of the tokens admitted in it, divided by the limit. Each such window
holds at most the limit (the simulator enforces it), so the mean is 1.0 at best and is not
skewed by the bursts a sliding window produces.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from django.db import connection

from project.embeddings.models import Chunk, Embedding


def steady_state(timeline: list[dict], *, window_seconds: float, tpm: int) -> dict:
    """Mean tokens per window over the steady state, from ``/stats``'s per-second timeline."""
    tokens = [entry["tokens"] for entry in timeline]
    busy = [second for second, count in enumerate(tokens) if count]
    if not busy:
        return {"steady_utilization": None, "steady_tokens_per_window": None, "steady_windows": 0}
    span = max(1, int(window_seconds))  # whole seconds; scaled back when the window is not whole
    scale = window_seconds / span
    first, last = busy[0], busy[-1]
    starts = range(first + span, last - span + 1)  # windows [s, s + span) ending by the last busy second
    sums = [sum(tokens[s : s + span]) * scale for s in starts]
    if not sums:
        return {"steady_utilization": None, "steady_tokens_per_window": None, "steady_windows": 0}
    mean = sum(sums) / len(sums)
    return {
        "steady_utilization": round(mean / tpm, 4),
        "steady_tokens_per_window": round(mean),
        "steady_windows": len(sums),
        "steady_seconds": [first + span, last],
        "steady_min_window_utilization": round(min(sums) / tpm, 4),
    }


def server_truth(stats: dict, *, window_seconds: float, rpm: int, tpm: int, wall_seconds: float) -> dict:
    """The simulator's counts for one run, the limits check and both utilizations."""
    limited = stats["rate_limited"]
    tokens = stats["tokens_admitted"]
    return {
        "requests_sent": stats["requests"],
        "requests_admitted": stats["requests_admitted"],
        "tokens_admitted": tokens,
        "http_429": limited["requests"] + limited["tokens"],
        "http_429_by_limit": {"requests": limited["requests"], "tokens": limited["tokens"]},
        "other_errors": stats["errors"],
        "max_tokens_in_window": stats["max_tokens_in_window"],
        "max_requests_in_window": stats["max_requests_in_window"],
        "limits_held": stats["max_tokens_in_window"] <= tpm and stats["max_requests_in_window"] <= rpm,
        "overall_utilization": round(tokens / (wall_seconds / window_seconds * tpm), 4),
        **steady_state(stats["timeline"], window_seconds=window_seconds, tpm=tpm),
    }


def database_truth(document_ids: Sequence[int]) -> dict:
    """Rows in the database for the run's chunks: stored, lost (no row) and duplicated (more than one)."""
    chunks = Chunk.objects.filter(document_id__in=document_ids)
    total = chunks.count()
    rows = Embedding.objects.filter(chunk__document_id__in=document_ids)
    embedded = rows.values("chunk_id").distinct().count()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT chunk_id FROM {Embedding._meta.db_table} GROUP BY chunk_id, model"
            " HAVING count(*) > 1) AS twice"
        )
        (duplicates,) = cursor.fetchone()
    return {"chunks": total, "embedding_rows": rows.count(), "lost": total - embedded, "duplicates": duplicates}


def job_span(job) -> float:
    """Seconds from the job's enqueue to its completion, as the database recorded them."""
    return (job.finished_at - job.started_at).total_seconds() if job.finished_at and job.started_at else float("nan")


def wait_searchable(job, timeout: float = 600.0) -> bool:
    """Wait until every vector of ``job`` is in an HNSW index (a bulk job's last segment built)."""
    from project.embeddings.index.cover import job_index

    deadline = time.monotonic() + timeout
    while job_index(job).state not in ("live", "indexed"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def index_builds() -> list[dict]:
    """The bulk index builds of the run: segments, rows, seconds."""
    from project.embeddings.models import IndexRange

    return list(IndexRange.objects.order_by("pk").values("lo", "hi", "rows", "build_seconds", "state"))


def reset_embeddings() -> None:
    """Every configuration embeds the same chunks from nothing (TRUNCATE also empties the HNSW index).

    A bulk job's segments, their indexes and their rows' sign bits go too (project/embeddings/indexing.py).
    """
    from project.embeddings.models import IndexRange, Segment, UnindexedVector

    with connection.cursor() as cursor:
        for name in IndexRange.objects.values_list("name", flat=True):
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
        IndexRange.objects.all().delete()
        cursor.execute(f"TRUNCATE {Embedding._meta.db_table}, {UnindexedVector._meta.db_table}")
        Segment.objects.all().delete()


def insert_cost(chunk_ids: Sequence[int], *, model: str, dimensions: int, batch: int = 100) -> dict:
    """Milliseconds of wall time per row written the way workers write them (``vectors_store``:
    binary COPY, then one INSERT) into the indexed table, ``batch`` rows a transaction."""
    from django.db import transaction

    from project.embeddings.store.copy import vectors_store

    values = np.random.default_rng(7).standard_normal((len(chunk_ids), dimensions), dtype=np.float32)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    started = time.perf_counter()
    for i in range(0, len(chunk_ids), batch):
        with transaction.atomic():
            group = dict(zip(chunk_ids[i : i + batch], values[i : i + batch]))
            vectors_store(model=model, dimensions=dimensions, vectors=group)
    seconds = time.perf_counter() - started
    reset_embeddings()
    return {"rows": len(chunk_ids), "batch": batch, "dimensions": dimensions, "path": "COPY + INSERT ON CONFLICT",
            "ms_per_row": round(seconds * 1000 / len(chunk_ids), 3)}


def limiter_probe(limiter, sim):
    """A probe for :class:`bench.sampler.Sampler`: (seconds, tokens the limiter believes its window holds,
    tokens the server admitted so far).

    Explains a utilization gap: a limiter that believes its window is full while the server's
    is not counts admissions for longer than the server does; a limiter whose window is not
    full either was not asked often enough (the workers were slow to come back).
    """

    def probe(seconds: float) -> tuple[float, int, int]:
        return seconds, limiter.usage().tokens_used, sim.stats()["tokens_admitted"]

    return probe


def limiter_summary(samples: list[tuple[float, int, int]], *, window_seconds: float, tpm: int) -> dict:
    """Means of :func:`limiter_probe`'s samples, over those at least one window after the first admission
    and before the last."""
    admitted = [s for s in samples if s[2] > 0]
    if not admitted:
        return {}
    first, total = admitted[0][0], samples[-1][2]
    last = next(s[0] for s in samples if s[2] >= total)
    steady = [s for s in samples if first + window_seconds <= s[0] <= last - window_seconds]
    if not steady:
        return {}

    def server_window(at: float, now_admitted: int) -> int:
        earlier = [s[2] for s in samples if s[0] <= at - window_seconds]
        return now_admitted - (earlier[-1] if earlier else 0)

    belief = sum(s[1] for s in steady) / len(steady) / tpm
    server = sum(server_window(s[0], s[2]) for s in steady) / len(steady) / tpm
    return {"samples": len(steady), "limiter_believed_window_utilization": round(belief, 4),
            "server_window_utilization": round(server, 4)}  # fmt: skip
