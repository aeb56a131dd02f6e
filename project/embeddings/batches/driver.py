"""The batch lane: a job's groups as Batch API batches, each remote step recorded before and after.

A batch-lane job's groups are rows like the sync lane's, but no task is queued for them: the
driver (:func:`drive`, run by Celery beat every ``TOLLGATE_BATCH_POLL_SECONDS`` and asked for
when groups commit) moves every batch one step at a time, and no worker ever sleeps on one:

1. **form** — pending groups become a :class:`~project.embeddings.models.Batch` (``preparing``),
   within the API's caps and ``TOLLGATE_BATCH_TOKENS``; stored vectors of the same input are
   reused first, so a group carries only what is still to pay for;
2. **upload** — ``uploading`` is recorded, then the JSONL file (one line per group, ``custom_id``
   = the group's id) goes up named after the batch's key, then its id is recorded. A driver that
   died in between finds the file by its name and uses it;
3. **room** — the batch waits until the model's enqueued-token limit, shared by every host
   through ``ratelimit.BatchQueue``, has room for it;
4. **create** — ``creating`` is recorded, then the batch is created with the key in its metadata,
   then its id is recorded. Again, a lost record is found by the key, never created twice;
5. **poll** — until the batch is final; then its lines are matched by ``custom_id`` and stored
   through the sync lane's write path (``store/write.py``: exactly once, reuse, bulk
   mode), failed lines fail their chunks with the API's message, and lines that never ran (an
   expired or cancelled batch) are sent again: in a new batch or on the sync lane
   (``TOLLGATE_BATCH_FALLBACK``). A batch the server refused for a full queue lowers the shared
   belief about the limit and its groups wait for the next batch.

One driver runs at a time (a PostgreSQL advisory lock), so two beat ticks never race on a step.
The database is the truth: whatever the driver was doing when it died, the next one continues.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from project.celery import BATCH_STORE, app
from project.embeddings.batches.forming import UPLOAD_AHEAD, batches_form
from project.embeddings.batches.steps import Step, abandon, create, poll, record, refused, upload
from project.embeddings.jobs.status import pause
from project.embeddings.locks import advisory_lock
from project.embeddings.models import (
    ACTIVE_STATUSES,
    ENDED_STATUSES,
    UNFINISHED_BATCH_STATES,
    Batch,
    BatchState,
    EmbeddingJob,
    GroupState,
    Lane,
)
from project.provider import batch_queue, provider_config
from providers import AccountBlocked, InvalidInput, ProviderError, client_for
from ratelimit import NeverFits

__all__ = ["DriveReport", "drive", "step"]

logger = logging.getLogger(__name__)

DRIVER_LOCK = 0x7467_6200  # pg advisory lock key: one batch driver at a time
STORE_RESEND_SECONDS = 120  # a finished batch's store task is sent again after this (its worker was lost)


@dataclass
class DriveReport:
    """What one drive did: batches formed, and left waiting for room; the errors the next poll retries."""

    formed: int = 0
    waiting_for_room: int = 0
    errors: list[str] = field(default_factory=list)


def drive() -> DriveReport | None:
    """Move every batch one step (form, upload, wait for room, create, poll, store); None if another driver runs.

    In an order that keeps the queue full: first the batches at the provider are polled (a final
    one gives its room back at once), then waiting batches fill that room, then a task is sent
    to store each finished batch's results (the slow part, :func:`batch_store`, on any worker,
    so polls stay a few calls long), and last a few more files are uploaded ahead
    (``UPLOAD_AHEAD``), so the next batch is ready when room frees. Batches already at the
    provider are followed whatever their job's status (their results are paid for); new work
    is formed and sent only for active jobs.
    """
    with advisory_lock(DRIVER_LOCK) as held:
        if not held:
            return None
        report = DriveReport()
        queues_sync()
        for job in EmbeddingJob.objects.filter(
            status__in=ACTIVE_STATUSES, groups__lane=Lane.BATCH, groups__state=GroupState.PENDING,
            groups__batch__isnull=True,
        ).distinct():
            report.formed += len(batches_form(job))
        unfinished = list(Batch.objects.filter(state__in=UNFINISHED_BATCH_STATES).select_related("job").order_by("pk"))
        for batch in [b for b in unfinished if b.state == BatchState.SUBMITTED]:
            step(batch, report, poll)
        for batch in [b for b in unfinished if b.state in (BatchState.UPLOADED, BatchState.CREATING)]:
            step(batch, report, create)
        for batch in [b for b in unfinished if b.state == BatchState.FINISHED]:
            store_send(batch)
        ahead = sum(1 for b in unfinished if b.state == BatchState.UPLOADED)
        for batch in [b for b in unfinished if b.state in (BatchState.PREPARING, BatchState.UPLOADING)]:
            if ahead >= UPLOAD_AHEAD:
                break
            step(batch, report, upload)
            if batch.state == BatchState.UPLOADED:
                step(batch, report, create)
                ahead += batch.state == BatchState.UPLOADED
        report.waiting_for_room = sum(1 for b in unfinished if b.state == BatchState.UPLOADED)
        return report


def step(batch: Batch, report: DriveReport, step: Step) -> None:
    """One remote step of one batch, its failures sorted: retry at the next poll, pause, or fail the batch."""
    job = batch.job
    if batch.state not in (BatchState.CREATING, BatchState.SUBMITTED, BatchState.FINISHED):
        if job.status in ENDED_STATUSES:
            abandon(batch, f"its job is {job.status}")
            return
        if job.status not in ACTIVE_STATUSES:
            return  # paused: it waits, uploaded or not, for a resume
    config = provider_config(job.model, job.dimensions)
    try:
        step(batch, client_for(config), config)
    except AccountBlocked as exc:  # credentials, quota: nothing works until a person acts
        pause(job.pk, f"the Batch API refused: {exc}")
        record(batch, last_error=str(exc))
    except InvalidInput as exc:  # the file or batch is wrong as it is: no retry mends it
        refused(batch, f"the Batch API refused the batch: {exc}")
    except NeverFits as exc:
        refused(batch, f"larger than the enqueued-token limit can ever admit: {exc}")
    except ProviderError as exc:  # a 5xx or a dropped connection: the next poll tries again
        record(batch, last_error=str(exc))
        report.errors.append(f"batch {batch.pk}: {exc}")
        logger.warning("batch %s: %s", batch.pk, exc)


def store_send(batch: Batch) -> None:
    """Ask a worker to store the finished batch's results, unless one was asked a moment ago."""
    recent = timezone.now() - timedelta(seconds=STORE_RESEND_SECONDS)
    if batch.store_sent_at is not None and batch.store_sent_at > recent:
        return
    record(batch, store_sent_at=timezone.now())
    app.send_task(BATCH_STORE, (batch.pk,))


def queues_sync() -> None:
    """Make the shared queue hold exactly the batches this database has at the provider.

    Redis may have lost its data (a restart), or a driver may have died between a batch's end
    and its release; the rows are the truth. (One database's drivers keep an account's queue.)
    """
    held: dict[str, dict[str, int]] = {}
    at_provider = Batch.objects.filter(state__in=(BatchState.CREATING, BatchState.SUBMITTED))
    for key, tokens, model in at_provider.values_list("key", "tokens", "job__model"):
        held.setdefault(model, {})[key] = tokens
    models = set(held) | set(
        EmbeddingJob.objects.filter(lane=Lane.BATCH, status__in=ACTIVE_STATUSES).values_list("model", flat=True)
    )
    for model in models:
        batch_queue(model).sync(held.get(model, {}))
