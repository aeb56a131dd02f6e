"""A job's lifecycle as people steer it: create, start, resume, pause, cancel.

Views, commands and the CLI call these; ingesting texts and files is ``ingest/``, planning and
enqueuing a job's groups ``plan/``, the web app's submissions ``submit.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from project.embeddings.batches.lane import lane_choose
from project.embeddings.jobs.sending import committed_then_sent
from project.embeddings.jobs.status import pause
from project.embeddings.models import (
    ACTIVE_STATUSES,
    RESUMABLE_STATUSES,
    Chunk,
    Document,
    EmbeddingJob,
    FailedChunk,
    Lane,
    Status,
)
from project.embeddings.owners import Viewer, system_owner, visible
from project.embeddings.plan.enqueue import NOTHING, PLANNABLE, Plan, job_enqueue
from project.errors import JobNotFound, JobStateError
from providers import encoding_for_model
from providers.inputs import SPLIT

__all__ = [
    "job_cancel",
    "job_cancel_unfinished",
    "job_create",
    "job_pause",
    "job_pause_active",
    "job_resume",
    "job_resume_paused",
    "job_start",
]


def job_create(
    *,
    documents: Sequence[Document],
    model: str | None = None,
    dimensions: int | None = None,
    long_input_policy: str = SPLIT,
    owner: AbstractBaseUser | None = None,
    idempotency_key: str = "",
    ingesting: bool = False,
    lane: str = Lane.SYNC,
    deadline_hours: float | None = None,
    expected_tokens: int = 0,
) -> EmbeddingJob:
    """A queued job of ``owner`` (default: the system user) over ``documents``; :func:`job_start` sends its work.

    ``ingesting``: a streaming ingest adds its documents as they commit (``ingest/streaming.py``);
    ``expected_tokens``, its guess of the whole job, lets the first batches be sent as the job's
    size calls for (paced, loaded in bulk) instead of as their own.
    ``lane``: ``sync``, ``batch`` (the Batch API, ``batches/``) or ``auto``, which picks the batch
    lane for a large job unless ``deadline_hours`` is shorter than the Batch API's window.
    """
    model = model or settings.TOLLGATE_MODEL
    encoding_for_model(model)  # an unknown model is a configuration error now, not in a worker
    if lane == "auto":
        tokens = Chunk.objects.filter(document__in=documents).aggregate(tokens=Sum("token_count"))["tokens"] or 0
    lane = lane_choose(lane, tokens=tokens if lane == "auto" else 0, deadline_hours=deadline_hours)
    job = EmbeddingJob.objects.create(
        lane=lane,
        model=model,
        dimensions=dimensions or settings.TOLLGATE_DIMENSIONS,
        long_input_policy=long_input_policy,
        owner=owner or system_owner(),
        idempotency_key=idempotency_key,
        ingesting=ingesting,
        expected_tokens=expected_tokens,
    )
    job.documents.set(documents)
    return job


def job_start(*, job: EmbeddingJob) -> Plan:
    """Enqueue every chunk of the job that has no embedding yet (again, after a lost broker)."""
    return job_enqueue(job)


def job_resume(*, job_id: int, retry_failed: bool = False) -> Plan:
    """Continue a paused job, or re-enqueue what a lost worker or broker forgot; the database is the truth.

    ``retry_failed`` forgets the job's failed chunks first (after a long provider outage, say),
    so they are tried again; a completed job with failures reopens for them.
    """
    job = _job(job_id)
    statuses = PLANNABLE
    if retry_failed:
        with transaction.atomic():
            forgotten, _ = FailedChunk.objects.filter(job=job).delete()
            EmbeddingJob.objects.filter(pk=job_id).update(failed_chunks=F("failed_chunks") - forgotten)
        job.refresh_from_db()
        if forgotten:
            statuses = PLANNABLE | {Status.COMPLETED}  # it reopens for the chunks it failed
    if job.status not in statuses:
        return NOTHING
    return job_enqueue(job, statuses=statuses)


def job_pause(*, job_id: int, reason: str = "paused by a user") -> None:
    pause(job_id, reason)


def job_cancel(*, job_id: int) -> None:
    EmbeddingJob.objects.filter(pk=job_id).exclude(status=Status.COMPLETED).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )


def job_pause_active(*, job_id: int, viewer: Viewer) -> EmbeddingJob:
    """Pause a queued or running job; its tasks stop calling the API until it is resumed."""
    job = _job(job_id, viewer=viewer)
    if job.status not in ACTIVE_STATUSES:
        raise JobStateError(f"job {job_id} is {job.status}; only a queued or running job can be paused")
    job_pause(job_id=job_id)
    job.refresh_from_db()
    return job


def job_resume_paused(*, job_id: int, viewer: Viewer) -> EmbeddingJob:
    """Resume a paused (or failed) job: its pending chunks are enqueued again."""
    job = _job(job_id, viewer=viewer)
    if job.status not in RESUMABLE_STATUSES:
        raise JobStateError(f"job {job_id} is {job.status}; only a paused or failed job can be resumed")
    with committed_then_sent(f"job {job_id}'s resume"):  # resumed, whatever the broker says after
        job_resume(job_id=job_id)
    job.refresh_from_db()
    return job


def job_cancel_unfinished(*, job_id: int, viewer: Viewer) -> EmbeddingJob:
    """Cancel a job that has not completed; tasks still queued for it do nothing."""
    job = _job(job_id, viewer=viewer)
    if job.status in (Status.COMPLETED, Status.CANCELLED):
        raise JobStateError(f"job {job_id} is already {job.status}")
    job_cancel(job_id=job_id)
    job.refresh_from_db()
    return job


def _job(job_id: int, *, viewer: Viewer = None) -> EmbeddingJob:
    """The job, if ``viewer`` may see it (None: the operator's commands); another owner's is not found."""
    try:
        return visible(EmbeddingJob.objects.all(), viewer=viewer).get(pk=job_id)
    except EmbeddingJob.DoesNotExist:
        raise JobNotFound(job_id) from None
