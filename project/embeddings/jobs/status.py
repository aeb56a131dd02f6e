"""A job's status as its work moves it: active or not, paused with a reason, completed when nothing is left.

Completion is decided from the database (no chunk left without an embedding or a failure),
not from a counter a redelivered task could have advanced twice.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from project.embeddings.index.segments import maintain_soon
from project.embeddings.jobs import tally
from project.embeddings.models import (
    ACTIVE_STATUSES,
    Chunk,
    Embedding,
    EmbeddingJob,
    FailedChunk,
    JobTally,
    Status,
)

__all__ = ["active_job", "finish_if_done", "pause", "pending_chunks"]


def active_job(job_id: int) -> EmbeddingJob | None:
    """The job if its tasks may call the provider (queued or running), else None."""
    return EmbeddingJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).first()


def pause(job_id: int, reason: str) -> None:
    """Stop the job's other tasks from calling the API until a person resumes it."""
    EmbeddingJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).update(status=Status.PAUSED, last_error=reason)


def pending_chunks(job: EmbeddingJob) -> QuerySet[Chunk]:
    """The job's chunks with neither an embedding for its model nor a recorded failure."""
    embedded = Embedding.objects.filter(chunk=OuterRef("pk"), model=job.model)
    failed = FailedChunk.objects.filter(chunk=OuterRef("pk"), job=job)
    return (
        Chunk.objects.filter(document__jobs=job)
        .annotate(embedded=Exists(embedded), failed=Exists(failed))
        .filter(embedded=False, failed=False)
        .order_by("document_id", "seq")
    )


def finish_if_done(job_id: int, *, exact: bool = False) -> bool:
    """Complete the job when nothing is left to embed; the last task to finish does it.

    The counters (the job's row and its tallies not yet folded) say cheaply when the end may
    have come; only then are the tallies folded and the job's every chunk checked, under the
    job's lock. Each caller checks after its own commit, so the last of two stores that commit
    together sees both. ``exact`` checks regardless (a re-plan found no work: the remaining
    chunks were embedded by another job, which this job's counters never saw).
    """
    if not exact:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT j.total_chunks - j.embedded_chunks - j.failed_chunks"
                f" - coalesce((SELECT sum(t.embedded_chunks) FROM {JobTally._meta.db_table} t WHERE t.job_id = j.id), 0)"
                f" FROM {EmbeddingJob._meta.db_table} j WHERE j.id = %s",
                [job_id],
            )
            row = cursor.fetchone()
        if row is None or row[0] > 0:
            return False
    tally.fold(job_id)
    with transaction.atomic():
        job = EmbeddingJob.objects.select_for_update(no_key=True).filter(pk=job_id, status__in=ACTIVE_STATUSES).first()
        if job is None or job.ingesting or pending_chunks(job).exists():  # a streaming ingest adds more yet
            return False
        job.status = Status.COMPLETED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        if job.load_segment:
            maintain_soon()  # its last segment is indexed now, not at the next sweep
        return True
