"""The remote steps of one batch, each recorded before and after it happens: upload, create, poll.

A driver that dies between a step and its record finds the file by its name, or the batch by
the key in its metadata, instead of making a second one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from project.embeddings.batches.forming import batch_content, batch_file_name
from project.embeddings.groups import life
from project.embeddings.jobs.counters import fail_chunks
from project.embeddings.models import Batch, BatchState, Chunk, GroupState, Status
from project.provider import batch_poll_seconds, batch_queue
from providers import ProviderConfig
from providers import batch as remote

__all__ = ["Step", "abandon", "chunks_present", "create", "poll", "record", "refused", "upload"]

logger = logging.getLogger(__name__)

Client = object  # the openai SDK's client, as ``providers.client_for`` builds it
Step = Callable[[Batch, Client, ProviderConfig], None]

CLOCK_SLACK_SECONDS = 3600  # the provider's clock against the database's, when looking for a lost create
REFUSAL_POLLS = 10  # after a "queue full" refusal, the lowered belief holds for this many polls


def record(batch: Batch, **values: object) -> None:
    """Write ``values`` to the batch's row now (each step's record commits on its own) and to ``batch``."""
    Batch.objects.filter(pk=batch.pk).update(**values)
    for name, value in values.items():
        setattr(batch, name, value)


def upload(batch: Batch, client: Client, config: ProviderConfig) -> None:
    """Record ``uploading``, upload (or find the upload a dead driver made), record the file's id."""
    found = None
    if batch.state == BatchState.UPLOADING:
        found = remote.find_upload(client, config, name=batch_file_name(batch))
    else:
        record(batch, state=BatchState.UPLOADING)
    file_id = found or remote.upload(client, config, name=batch_file_name(batch), content=batch_content(batch, config))
    record(batch, file_id=file_id, state=BatchState.UPLOADED, last_error="")


def create(batch: Batch, client: Client, config: ProviderConfig) -> None:
    """Take room in the shared queue limit, record ``creating``, create (or find) the batch, record it.

    While the queue has no room for it, it waits (``uploaded``); nothing is refused.
    """
    queue = batch_queue(batch.job.model)
    found = None
    if batch.state == BatchState.CREATING:
        since = int(batch.created_at.timestamp()) - CLOCK_SLACK_SECONDS  # no need to page past its record
        found = remote.find_batch(client, config, key=batch.key, since=since)
    if found is None:
        if not queue.admit(batch.key, batch.tokens).admitted:
            return
        if batch.state != BatchState.CREATING:
            record(batch, state=BatchState.CREATING)
        found = remote.create(client, config, file_id=batch.file_id, key=batch.key)
    queue.admit(batch.key, batch.tokens)  # a found batch holds its room, also after Redis lost it
    record(
        batch, batch_id=found.id, state=BatchState.SUBMITTED, remote_status=found.status, submitted_at=timezone.now(),
        last_error="",
    )  # fmt: skip


def poll(batch: Batch, client: Client, config: ProviderConfig) -> None:
    """Read the batch's status; once it is final, give its room back and record it ``finished``."""
    state = remote.retrieve(client, config, batch.batch_id)
    if batch.job.status == Status.CANCELLED and state.status in ("validating", "in_progress"):
        state = remote.cancel(client, config, batch.batch_id)  # what it completed is still stored
    record(batch, remote_status=state.status, completed=state.completed, failed=state.failed)
    if not state.final:
        return
    # Released first: a driver that dies after this finds the batch finished and stores it then.
    batch_queue(batch.job.model).release(batch.key)
    if state.status == "failed":
        failed(batch, state)
        return
    record(batch, state=BatchState.FINISHED, output_file_id=state.output_file_id or "",
            error_file_id=state.error_file_id or "")  # fmt: skip


def failed(batch: Batch, state: remote.BatchState) -> None:
    """A batch the provider refused: a full queue sends its groups to the next batch; else they fail."""
    reason = "; ".join(f"{code}: {message}" for code, message in state.errors) or "the batch failed validation"
    if state.queue_full:
        queue = batch_queue(batch.job.model)
        queue.refused(batch.key, hold_seconds=REFUSAL_POLLS * batch_poll_seconds())
        with transaction.atomic():
            life.batch_return(batch.pk)
            record(batch, state=BatchState.FAILED, last_error=reason, finished_at=timezone.now())
        logger.warning("batch %s refused for a full queue; its groups wait for room: %s", batch.pk, reason)
        return
    refused(batch, f"the Batch API refused the batch: {reason}")


def refused(batch: Batch, reason: str) -> None:
    """Fail the batch's unfinished groups (and their chunks) with ``reason``."""
    for group in batch.groups.filter(state=GroupState.CLAIMED):
        fail_chunks(batch.job_id, chunks_present(group.chunk_ids), reason)
        life.fail(group)
    record(batch, state=BatchState.FAILED, last_error=reason, finished_at=timezone.now())
    batch_queue(batch.job.model).release(batch.key)


def chunks_present(chunk_ids: list[int]) -> list[int]:
    """Those of ``chunk_ids`` still there: a document deleted while its batch ran took its chunks along."""
    return list(Chunk.objects.filter(pk__in=chunk_ids).values_list("pk", flat=True))


def abandon(batch: Batch, reason: str) -> None:
    """A batch not yet at the provider whose job ended: its groups go back, nothing is sent."""
    with transaction.atomic():
        life.batch_return(batch.pk)
        record(batch, state=BatchState.FAILED, last_error=f"not submitted: {reason}", finished_at=timezone.now())
