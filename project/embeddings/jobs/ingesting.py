"""The end of a streaming ingest: the job completes once its work is stored, or fails with the reason.

A streaming ingest holds an advisory lock keyed by its job for as long as it runs
(``ingest/streaming.py``), and PostgreSQL frees it when that session ends, however it ends: the
sweep ends the ingests whose lock is free (:func:`ingests_gone`), so no job waits forever.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models.functions import Now

from project.embeddings.groups.queue import batches_drive_soon
from project.embeddings.jobs.status import finish_if_done
from project.embeddings.locks import advisory_lock
from project.embeddings.models import ACTIVE_STATUSES, EmbeddingJob, Lane, Status

__all__ = ["INGEST_LOCK", "ingest_end", "ingests_gone"]

INGEST_LOCK = 0x696E6773  # pg advisory lock (with the job's id): held by the session ingesting into a job
INGEST_START_SECONDS = 10.0  # a job this young may not have taken its ingest's lock yet


def ingest_end(job_id: int, *, error: str = "") -> None:
    """The job's ingest is over: it completes once its work is stored, or, after ``error``, fails with it."""
    with transaction.atomic():
        EmbeddingJob.objects.filter(pk=job_id).update(ingesting=False)
        if error:
            EmbeddingJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).update(
                status=Status.FAILED, last_error=error, finished_at=Now()
            )
        elif EmbeddingJob.objects.filter(pk=job_id, lane=Lane.BATCH).exists():
            transaction.on_commit(batches_drive_soon)  # its last, partial batch can be formed now
    if not error:
        finish_if_done(job_id, exact=True)


def ingests_gone() -> list[int]:
    """End the ingests whose process is gone (killed, its host lost), so their jobs do not wait forever.

    A streaming ingest holds an advisory lock keyed by its job for as long as it runs
    (``ingest/streaming.py``), and PostgreSQL frees it when that session ends, however it ends.
    A job still marked ``ingesting`` whose lock is free has no ingest left: it fails with a line
    that says how to go on, and what its batches committed stays (``tollgate resume`` embeds it).
    Returns the ids of the jobs ended.
    """
    young = Now() - timedelta(seconds=INGEST_START_SECONDS)
    ended = []
    for job_id in EmbeddingJob.objects.filter(ingesting=True, created_at__lt=young).values_list("pk", flat=True):
        with advisory_lock(INGEST_LOCK, job_id) as free:
            if free:
                committed = EmbeddingJob.documents.through.objects.filter(embeddingjob_id=job_id).count()
                ingest_end(job_id, error=(
                    f"ingest stopped after {committed} documents: the process ingesting them is gone; "
                    f"`tollgate resume {job_id}` embeds what was stored"
                ))  # fmt: skip
                ended.append(job_id)
    return ended
