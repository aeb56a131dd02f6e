"""A job's counters as workers move them, and the chunks it failed.

Counters are tallies appended without a lock (``tally.py``); a failure, rare, moves the job's
row at once with ``F()`` (one UPDATE, no read-modify-write across processes), with its reason.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now

from project.embeddings.jobs import tally
from project.embeddings.jobs.status import finish_if_done
from project.embeddings.models import Chunk, EmbeddingJob, FailedChunk

__all__ = ["count", "fail_chunks"]


def count(job_id: int, **increments: int) -> None:
    """Add to the job's counters, e.g. ``count(7, requests=1, http_429=1)``: a tally, folded later (``tally.py``)."""
    tally.add(job_id, **increments)


def _lock_chunks(chunk_ids: list[int]) -> list[int]:
    """Lock these chunks' rows (in id order: no deadlock) for the rest of the transaction; returns those that exist.

    Two tasks failing the same chunks (a redelivery racing the original) take turns, so each
    counts only what it added; tasks of other groups never wait for each other.
    """
    return list(Chunk.objects.select_for_update().filter(pk__in=chunk_ids).order_by("pk").values_list("pk", flat=True))


def fail_chunks(job_id: int, chunk_ids: list[int], reason: str) -> None:
    """Record that these chunks can never be embedded as they are, with the reason; counted once each."""
    with transaction.atomic():
        chunk_ids = _lock_chunks(chunk_ids)  # a chunk deleted meanwhile (its document) has nothing to fail
        known = FailedChunk.objects.filter(job_id=job_id, chunk_id__in=chunk_ids)
        before = known.count()
        FailedChunk.objects.bulk_create(
            [FailedChunk(job_id=job_id, chunk_id=chunk_id, reason=reason) for chunk_id in chunk_ids],
            ignore_conflicts=True,
        )
        new = known.count() - before
        # The job's row last: its lock is held only from this UPDATE to the commit.
        EmbeddingJob.objects.filter(pk=job_id).update(
            failed_chunks=F("failed_chunks") + new, last_error=reason, progressed_at=Now()
        )
    finish_if_done(job_id)
