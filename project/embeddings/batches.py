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
   through the sync lane's write path (``jobs.store_embeddings``: exactly once, reuse, bulk
   mode), failed lines fail their chunks with the API's message, and lines that never ran (an
   expired or cancelled batch) are sent again: in a new batch or on the sync lane
   (``TOLLGATE_BATCH_FALLBACK``). A batch the server refused for a full queue lowers the shared
   belief about the limit and its groups wait for the next batch.

One driver runs at a time (a PostgreSQL advisory lock), so two beat ticks never race on a step.
The database is the truth: whatever the driver was doing when it died, the next one continues.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from project.celery import BATCH_STORE, app
from project.errors import UnknownLane
from project.provider import (
    BATCH_SHARE_OF_QUEUE,
    BATCH_WINDOW_HOURS,
    batch_auto_tokens,
    batch_fallback,
    batch_poll_seconds,
    batch_queue,
    batch_tokens,
    provider_config,
)
from providers import AccountBlocked, InvalidInput, ProviderConfig, ProviderError, client_for
from providers import batch as remote
from ratelimit import NeverFits

from project.embeddings import groups, jobs
from project.embeddings.locks import advisory_lock
from project.embeddings.models import (
    ACTIVE_STATUSES,
    ENDED_STATUSES,
    UNFINISHED_BATCH_STATES,
    Batch,
    BatchState,
    EmbeddingGroup,
    EmbeddingJob,
    GroupState,
    Lane,
    Status,
)
from project.embeddings.reuse import reuse_stored

__all__ = ["DriveReport", "batch_store", "batches_form", "drive", "lane_choose"]

logger = logging.getLogger(__name__)

Client = object  # the openai SDK's client, as ``providers.client_for`` builds it
Step = Callable[[Batch, Client, ProviderConfig], None]

DRIVER_LOCK = 0x7467_6200  # pg advisory lock key: one batch driver at a time
STORE_LOCK = 0x7467_6201  # an int, with a batch's id: one task storing each batch
STORE_RESEND_SECONDS = 120  # a finished batch's store task is sent again after this (its worker was lost)
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})
CLOCK_SLACK_SECONDS = 3600  # the provider's clock against the database's, when looking for a lost create
REFUSAL_POLLS = 10  # after a "queue full" refusal, the lowered belief holds for this many polls
# Batches uploaded and waiting for room, at most: a full queue's worth, so when the batches in
# flight end together their room is filled at once; the rest are not yet built.
UPLOAD_AHEAD = BATCH_SHARE_OF_QUEUE
FORM_AHEAD = UPLOAD_AHEAD + 2  # a job's batches formed and not yet submitted, at most


def lane_choose(requested: str, *, tokens: int, deadline_hours: float | None = None) -> str:
    """The lane a job of ``tokens`` runs on: as asked, or for ``auto`` the batch lane when it is large
    and no deadline shorter than the Batch API's 24 h window is asked for."""
    if requested in (Lane.SYNC, Lane.BATCH):
        return requested
    if requested != "auto":
        raise UnknownLane(requested)
    in_time = deadline_hours is None or deadline_hours >= BATCH_WINDOW_HOURS
    return Lane.BATCH if in_time and tokens >= batch_auto_tokens() else Lane.SYNC


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
        _queues_sync()
        for job in EmbeddingJob.objects.filter(
            status__in=ACTIVE_STATUSES, groups__lane=Lane.BATCH, groups__state=GroupState.PENDING,
            groups__batch__isnull=True,
        ).distinct():
            report.formed += len(batches_form(job))
        unfinished = list(Batch.objects.filter(state__in=UNFINISHED_BATCH_STATES).select_related("job").order_by("pk"))
        for batch in [b for b in unfinished if b.state == BatchState.SUBMITTED]:
            _step(batch, report, _poll)
        for batch in [b for b in unfinished if b.state in (BatchState.UPLOADED, BatchState.CREATING)]:
            _step(batch, report, _create)
        for batch in [b for b in unfinished if b.state == BatchState.FINISHED]:
            _store_send(batch)
        ahead = sum(1 for b in unfinished if b.state == BatchState.UPLOADED)
        for batch in [b for b in unfinished if b.state in (BatchState.PREPARING, BatchState.UPLOADING)]:
            if ahead >= UPLOAD_AHEAD:
                break
            _step(batch, report, _upload)
            if batch.state == BatchState.UPLOADED:
                _step(batch, report, _create)
                ahead += batch.state == BatchState.UPLOADED
        report.waiting_for_room = sum(1 for b in unfinished if b.state == BatchState.UPLOADED)
        return report


def _step(batch: Batch, report: DriveReport, step: Step) -> None:
    """One remote step of one batch, its failures sorted: retry at the next poll, pause, or fail the batch."""
    job = batch.job
    if batch.state not in (BatchState.CREATING, BatchState.SUBMITTED, BatchState.FINISHED):
        if job.status in ENDED_STATUSES:
            _abandon(batch, f"its job is {job.status}")
            return
        if job.status not in ACTIVE_STATUSES:
            return  # paused: it waits, uploaded or not, for a resume
    config = provider_config(job.model, job.dimensions)
    try:
        step(batch, client_for(config), config)
    except AccountBlocked as exc:  # credentials, quota: nothing works until a person acts
        jobs.pause(job.pk, f"the Batch API refused: {exc}")
        _record(batch, last_error=str(exc))
    except InvalidInput as exc:  # the file or batch is wrong as it is: no retry mends it
        _refused(batch, f"the Batch API refused the batch: {exc}")
    except NeverFits as exc:
        _refused(batch, f"larger than the enqueued-token limit can ever admit: {exc}")
    except ProviderError as exc:  # a 5xx or a dropped connection: the next poll tries again
        _record(batch, last_error=str(exc))
        report.errors.append(f"batch {batch.pk}: {exc}")
        logger.warning("batch %s: %s", batch.pk, exc)


def _store_send(batch: Batch) -> None:
    """Ask a worker to store the finished batch's results, unless one was asked a moment ago."""
    recent = timezone.now() - timedelta(seconds=STORE_RESEND_SECONDS)
    if batch.store_sent_at is not None and batch.store_sent_at > recent:
        return
    _record(batch, store_sent_at=timezone.now())
    app.send_task(BATCH_STORE, (batch.pk,))


def batch_store(batch_id: int) -> bool:
    """Store a finished batch's results (``finished`` → ``done``); False if another task is storing it.

    A task lost with its worker is sent again by a later poll (``STORE_RESEND_SECONDS``); one
    that dies midway leaves the batch ``finished``, and the next stores only what is not stored
    yet (each stored line's group is done).
    """
    with advisory_lock(STORE_LOCK, batch_id) as held:
        if not held:
            return False
        batch = Batch.objects.select_related("job").filter(pk=batch_id, state=BatchState.FINISHED).first()
        if batch is not None:
            _step(batch, DriveReport(), _results_store)
        return True


def _queues_sync() -> None:
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


# --- 1. form ------------------------------------------------------------------------------------


def batches_form(job: EmbeddingJob) -> list[Batch]:
    """Cut the job's pending batch-lane groups into batches within the caps; returns the new ones.

    While the job still ingests, only full batches are formed (the rest waits for more groups or
    the end of the ingest), so a streaming backfill does not turn into many small batches. At
    most ``FORM_AHEAD`` of the job's batches wait unsubmitted: a huge backfill is cut as it goes,
    and each poll stays short.
    """
    config = provider_config(job.model, job.dimensions)
    budget = batch_tokens()
    formed: list[Batch] = []
    while True:
        with transaction.atomic():
            job = EmbeddingJob.objects.select_for_update().get(pk=job.pk)
            unsubmitted = job.batches.filter(state__in=(BatchState.PREPARING, BatchState.UPLOADING, BatchState.UPLOADED))
            if job.status not in ACTIVE_STATUSES or unsubmitted.count() >= FORM_AHEAD:
                return formed
            pending = job.groups.filter(lane=Lane.BATCH, state=GroupState.PENDING, batch__isnull=True)
            chosen, tokens, full = [], 0, False
            for group in pending.order_by("pk").iterator(chunk_size=500):
                if chosen and (
                    tokens + group.tokens > budget
                    or len(chosen) >= remote.MAX_BATCH_REQUESTS
                ):
                    full = True
                    break
                chosen.append(group)
                tokens += group.tokens
            if not chosen or (job.ingesting and not full and tokens < budget):
                return formed
            batch = _batch_make(job, chosen, config)
            if batch is not None:
                formed.append(batch)


def _batch_make(job: EmbeddingJob, chosen: list[EmbeddingGroup], config: ProviderConfig) -> Batch | None:
    """A ``preparing`` batch of ``chosen``: each group narrowed to what is still unpaid, its line measured.

    Groups whose inputs were all stored meanwhile are done at once. Lines that would take the
    batch past the API's input or byte caps are left pending for the next batch.
    """
    batch = Batch.objects.create(job=job, key=uuid.uuid4().hex)
    requests = inputs = tokens = size = 0
    for group in chosen:
        reuse_stored(job, chunk_ids=group.chunk_ids)
        todo = jobs.group_inputs(job, group.chunk_ids)
        if not todo:
            groups.group_finish(group.pk)
            continue
        texts = [text for send in todo for text in send.inputs.texts]
        line = len(remote.request_line(str(group.pk), config, texts))
        if requests and (inputs + len(texts) > remote.MAX_BATCH_INPUTS or size + line > remote.MAX_BATCH_BYTES):
            break
        sent = sum(t for send in todo for t in send.inputs.tokens)
        EmbeddingGroup.objects.filter(pk=group.pk).update(
            chunk_ids=[pk for send in todo for pk in send.chunk_ids], tokens=sent,
            state=GroupState.CLAIMED, batch=batch, lease_until=None,
        )  # fmt: skip
        requests, inputs, tokens, size = requests + 1, inputs + len(texts), tokens + sent, size + line
    if not requests:
        batch.delete()
        jobs.finish_if_done(job.pk, exact=True)
        return None
    Batch.objects.filter(pk=batch.pk).update(requests=requests, inputs=inputs, tokens=tokens)
    batch.refresh_from_db()
    return batch


def _content(batch: Batch, config: ProviderConfig) -> bytes:
    """The batch's JSONL: one line per group, rebuilt from its rows the same way every time."""
    lines = []
    for group in batch.groups.order_by("pk"):
        todo = jobs.group_inputs(batch.job, group.chunk_ids, pending_only=False)
        lines.append(remote.request_line(str(group.pk), config, [t for send in todo for t in send.inputs.texts]))
    return b"".join(lines)


def _file_name(batch: Batch) -> str:
    return f"tollgate-{batch.key}.jsonl"


# --- 2.-5. the remote steps ----------------------------------------------------------------------


def _record(batch: Batch, **values: object) -> None:
    """Write ``values`` to the batch's row now (each step's record commits on its own) and to ``batch``."""
    Batch.objects.filter(pk=batch.pk).update(**values)
    for name, value in values.items():
        setattr(batch, name, value)


def _upload(batch: Batch, client: Client, config: ProviderConfig) -> None:
    """Record ``uploading``, upload (or find the upload a dead driver made), record the file's id."""
    found = None
    if batch.state == BatchState.UPLOADING:
        found = remote.find_upload(client, config, name=_file_name(batch))
    else:
        _record(batch, state=BatchState.UPLOADING)
    file_id = found or remote.upload(client, config, name=_file_name(batch), content=_content(batch, config))
    _record(batch, file_id=file_id, state=BatchState.UPLOADED, last_error="")


def _create(batch: Batch, client: Client, config: ProviderConfig) -> None:
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
            _record(batch, state=BatchState.CREATING)
        found = remote.create(client, config, file_id=batch.file_id, key=batch.key)
    queue.admit(batch.key, batch.tokens)  # a found batch holds its room, also after Redis lost it
    _record(
        batch, batch_id=found.id, state=BatchState.SUBMITTED, remote_status=found.status, submitted_at=timezone.now(),
        last_error="",
    )  # fmt: skip


def _poll(batch: Batch, client: Client, config: ProviderConfig) -> None:
    """Read the batch's status; once it is final, give its room back and record it ``finished``."""
    state = remote.retrieve(client, config, batch.batch_id)
    if batch.job.status == Status.CANCELLED and state.status in ("validating", "in_progress"):
        state = remote.cancel(client, config, batch.batch_id)  # what it completed is still stored
    _record(batch, remote_status=state.status, completed=state.completed, failed=state.failed)
    if not state.final:
        return
    # Released first: a driver that dies after this finds the batch finished and stores it then.
    batch_queue(batch.job.model).release(batch.key)
    if state.status == "failed":
        _failed(batch, state)
        return
    _record(batch, state=BatchState.FINISHED, output_file_id=state.output_file_id or "",
            error_file_id=state.error_file_id or "")  # fmt: skip


def _failed(batch: Batch, state: remote.BatchState) -> None:
    """A batch the provider refused: a full queue sends its groups to the next batch; else they fail."""
    reason = "; ".join(f"{code}: {message}" for code, message in state.errors) or "the batch failed validation"
    if state.queue_full:
        queue = batch_queue(batch.job.model)
        queue.refused(batch.key, hold_seconds=REFUSAL_POLLS * batch_poll_seconds())
        with transaction.atomic():
            batch.groups.filter(state=GroupState.CLAIMED).update(state=GroupState.PENDING, batch=None)
            _record(batch, state=BatchState.FAILED, last_error=reason, finished_at=timezone.now())
        logger.warning("batch %s refused for a full queue; its groups wait for room: %s", batch.pk, reason)
        return
    _refused(batch, f"the Batch API refused the batch: {reason}")


def _refused(batch: Batch, reason: str) -> None:
    """Fail the batch's unfinished groups (and their chunks) with ``reason``."""
    for group in batch.groups.filter(state=GroupState.CLAIMED):
        jobs.fail_chunks(batch.job_id, list(group.chunk_ids), reason)
        groups.group_finish(group.pk, state=GroupState.FAILED)
    _record(batch, state=BatchState.FAILED, last_error=reason, finished_at=timezone.now())
    batch_queue(batch.job.model).release(batch.key)


def _abandon(batch: Batch, reason: str) -> None:
    """A batch not yet at the provider whose job ended: its groups go back, nothing is sent."""
    with transaction.atomic():
        batch.groups.filter(state=GroupState.CLAIMED).update(state=GroupState.PENDING, batch=None)
        _record(batch, state=BatchState.FAILED, last_error=f"not submitted: {reason}", finished_at=timezone.now())


def _results_store(batch: Batch, client: Client, config: ProviderConfig) -> None:
    """Store each line's vectors (matched by ``custom_id``), fail failed lines, send on what never ran."""
    state = remote.retrieve(client, config, batch.batch_id)
    job = EmbeddingJob.objects.get(pk=batch.job_id)
    waiting = {str(group.pk): group for group in batch.groups.filter(state=GroupState.CLAIMED)}
    not_run: list[EmbeddingGroup] = []
    for line in remote.results(client, config, state):
        group = waiting.pop(line.custom_id, None)
        if group is None:  # stored by an earlier driver that died midway, or not ours
            continue
        if line.vectors is not None:  # the sync lane's write path; paid on the batch lane
            todo = jobs.group_inputs(job, group.chunk_ids, pending_only=False)  # as the line sent them
            jobs.store_paid(job, group.pk, todo, line.vectors, line.total_tokens, batch=True)
        elif line.code in NOT_RUN_CODES:
            not_run.append(group)
        else:
            reason = line.error or f"the Batch API answered {line.status_code} for this request"
            jobs.fail_chunks(job.pk, list(group.chunk_ids), reason)
            groups.group_finish(group.pk, state=GroupState.FAILED)
    not_run += waiting.values()  # in neither file: it never ran
    _send_on(job, not_run)
    _record(batch, state=BatchState.DONE, finished_at=timezone.now(), last_error="")
    for file_id in (batch.file_id, state.output_file_id, state.error_file_id):  # the account's storage
        if file_id:
            remote.delete_file(client, config, file_id)


def _send_on(job: EmbeddingJob, not_run: list[EmbeddingGroup]) -> None:
    """Lines an expired or cancelled batch never ran: into the next batch, or onto the sync lane."""
    if not not_run:
        return
    ids = [group.pk for group in not_run]
    if job.status == Status.CANCELLED:
        EmbeddingGroup.objects.filter(pk__in=ids).update(state=GroupState.PENDING, batch=None)
        return
    if batch_fallback() == "sync":
        with transaction.atomic():
            EmbeddingGroup.objects.filter(pk__in=ids).update(lane=Lane.SYNC, state=GroupState.PENDING, batch=None)
            groups.groups_resend(EmbeddingJob.objects.get(pk=job.pk))
        return
    EmbeddingGroup.objects.filter(pk__in=ids).update(state=GroupState.PENDING, batch=None)
