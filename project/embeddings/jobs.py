"""Job rows as workers change them: atomic counters, status changes, failed chunks, completion.

Counters move with ``F()`` expressions (one UPDATE, no read-modify-write across processes);
completion is decided from the database (no chunk left without an embedding or a failure),
not from a counter a redelivered task could have advanced twice.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.db import DataError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from providers import encoding_for_model, model_info
from providers.inputs import ChunkInputs, chunk_inputs, combine

from project.embeddings import groups, indexing, reuse
from project.embeddings.locks import advisory_lock
from project.embeddings.models import (
    ACTIVE_STATUSES,
    Chunk,
    Embedding,
    EmbeddingJob,
    FailedChunk,
    GroupState,
    Lane,
    Status,
)
from project.embeddings.store import vectors_store

logger = logging.getLogger(__name__)


def count(job_id: int, **increments: int) -> None:
    """Add to the job's counters, e.g. ``count(7, requests=1, http_429=1)``."""
    EmbeddingJob.objects.filter(pk=job_id).update(**{name: F(name) + value for name, value in increments.items()})


def active_job(job_id: int) -> EmbeddingJob | None:
    """The job if its tasks may call the provider (queued or running), else None."""
    return EmbeddingJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).first()


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


@dataclass(frozen=True)
class Send:
    """One distinct input of a group: what it sends (for its first chunk) and every chunk that shares it."""

    address: str  # reuse.input_hash
    inputs: ChunkInputs
    chunk_ids: list[int]  # the first is ``inputs.chunk_id``; the others are copies


def group_inputs(job: EmbeddingJob, chunk_ids: list[int], *, pending_only: bool = True) -> list[Send]:
    """What the group's chunks not yet embedded send to the API, each distinct input once, after the job's policy.

    ``pending_only=False`` reads every chunk of the group, embedded or not: the batch lane reads
    a line's results back in the order it sent them, whatever was stored meanwhile.
    """
    chosen = pending_chunks(job) if pending_only else Chunk.objects.order_by("document_id", "seq")
    rows = chosen.filter(pk__in=chunk_ids).values_list("pk", "text", "token_count", "content_hash")
    encoding = encoding_for_model(job.model)
    max_tokens = model_info(job.model).max_input_tokens
    sends: dict[str, Send] = {}
    for pk, text, count, digest in rows:
        address = reuse.input_hash(digest, count, policy=job.long_input_policy, max_tokens=max_tokens)
        if address in sends:
            sends[address].chunk_ids.append(pk)
            continue
        inputs = chunk_inputs(pk, text, count, policy=job.long_input_policy, max_tokens=max_tokens, encoding=encoding)
        sends[address] = Send(address, inputs, [pk])
    return list(sends.values())


@dataclass
class Matched:
    """A paid response's vectors matched to the chunks that sent them (``match_vectors``)."""

    vectors: dict[int, np.ndarray]  # first chunk of each input -> its vector (long inputs combined)
    addresses: dict[int, str]  # the same chunks -> their input's address
    copies: list[int]  # chunks sharing an input with one of ``vectors``
    missing: list[Send]  # inputs the response held no vector for
    wrong_dimensions: int | None  # a vector's size, when the provider answered the wrong one


def match_vectors(todo: list[Send], vectors: list[np.ndarray], dimensions: int) -> Matched:
    """Split a response's vectors (in the order ``todo`` sent its texts) over the sends, checking each."""
    matched, position = Matched({}, {}, [], [], None), 0
    for send in todo:
        count = len(send.inputs.texts)
        pieces = vectors[position : position + count]
        position += count
        if len(pieces) < count or any(piece.size == 0 for piece in pieces):
            matched.missing.append(send)
        elif any(piece.size != dimensions for piece in pieces):
            matched.wrong_dimensions = matched.wrong_dimensions or pieces[0].size
        else:
            matched.vectors[send.inputs.chunk_id] = combine(pieces, send.inputs.tokens)
            matched.addresses[send.inputs.chunk_id] = send.address
            matched.copies += send.chunk_ids[1:]
    return matched


def store_paid(
    job: EmbeddingJob, group_id: int, todo: list[Send], vectors: list[np.ndarray], tokens: int, *, batch: bool = False
) -> None:
    """Store what a paid response holds (either lane); fail the inputs it lacks; pause the job for what it cannot store.

    ``vectors`` are in the order ``todo`` sent its texts; ``tokens`` is what the provider billed.
    """
    matched = match_vectors(todo, vectors, job.dimensions)
    if matched.wrong_dimensions is not None:
        reason = (
            f"the provider answered {matched.wrong_dimensions}-dimension vectors for a job of {job.dimensions} "
            "(does it ignore `dimensions`?); nothing can be stored until that is fixed"
        )
        _unstorable(job, group_id, tokens, reason, batch=batch)
        return
    try:
        store_embeddings(
            job, matched.vectors, tokens, group_id=group_id, input_hashes=matched.addresses, copies=matched.copies,
            batch=batch,
        )  # fmt: skip
    except VECTORS_UNSTORABLE as exc:
        _unstorable(job, group_id, tokens, f"the vectors could not be stored: {exc}".strip(), batch=batch)
        return
    if matched.missing:
        served = sum(1 for vector in vectors if vector.size)
        inputs = sum(len(send.inputs.texts) for send in todo)
        reason = f"the provider answered {served} vectors for {inputs} inputs; this one had none"
        fail_chunks(job.pk, [pk for send in matched.missing for pk in send.chunk_ids], reason)


def _unstorable(job: EmbeddingJob, group_id: int, tokens: int, reason: str, *, batch: bool) -> None:
    """A paid response that can never be stored: count what it cost, pause the job with the reason."""
    count(job.pk, requests=1, embedded_tokens=tokens, batch_tokens=tokens if batch else 0)
    groups.group_finish(group_id, state=GroupState.FAILED)
    pause(job.pk, reason)
    logger.error("job %s paused: %s", job.pk, reason)


def pause(job_id: int, reason: str) -> None:
    """Stop the job's other tasks from calling the API until a person resumes it."""
    EmbeddingJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).update(status=Status.PAUSED, last_error=reason)


def _lock_chunks(chunk_ids: list[int]) -> None:
    """Lock these chunks' rows (in id order: no deadlock) for the rest of the transaction.

    Two tasks storing the same chunks (a redelivery racing the original) take turns, so each
    counts only what it added; tasks of other groups never wait for each other.
    """
    list(Chunk.objects.select_for_update().filter(pk__in=chunk_ids).order_by("pk").values_list("pk", flat=True))


def fail_chunks(job_id: int, chunk_ids: list[int], reason: str) -> None:
    with transaction.atomic():
        _lock_chunks(chunk_ids)
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


def store_embeddings(
    job: EmbeddingJob,
    vectors: dict[int, np.ndarray],
    tokens: int,
    *,
    group_id: int | None = None,
    input_hashes: dict[int, str] | None = None,
    copies: list[int] = (),
    batch: bool = False,
) -> int:
    """Write the vectors once (a redelivered task adds nothing) and advance the counters.

    The vectors are paid for: while PostgreSQL is away (a restart), the store is tried again
    for up to ``STORE_PATIENCE`` seconds instead of dropping them for a task retry to pay again.

    ``copies`` are the group's chunks that share an input with one of ``vectors``: they get its
    vector in the same transaction (``reuse.reuse_stored``) and count as reused, not paid. The
    group is done when this commits. Returns how many embeddings are new, as the INSERT counted
    them (``store.vectors_store``). The rows go to the job's load segment (``indexing.py``): the
    live index, or a backfill's segment that is indexed in bulk later. Inserting into the live
    index, the slow part, runs in parallel across groups: the job's row is locked only by the
    final counter UPDATE. ``batch``: the tokens were paid on the batch lane (at its price).
    """
    deadline, pause_for = time.monotonic() + STORE_PATIENCE, 0.25
    while True:
        try:
            return _store_once(
                job, vectors, tokens, group_id=group_id, input_hashes=input_hashes, copies=copies, batch=batch
            )
        except DATABASE_UNAVAILABLE:
            if time.monotonic() + pause_for > deadline:
                raise
            connection.close()  # the next query opens a new connection
            time.sleep(pause_for)
            pause_for = min(2 * pause_for, 4.0)


def _store_once(
    job: EmbeddingJob,
    vectors: dict[int, np.ndarray],
    tokens: int,
    *,
    group_id: int | None,
    input_hashes: dict[int, str] | None,
    copies: list[int],
    batch: bool,
) -> int:
    with transaction.atomic():
        segment = indexing.store_segment(job.pk)
        new = vectors_store(
            model=job.model, dimensions=job.dimensions, vectors=vectors, input_hashes=input_hashes, segment=segment
        )
        copied = reuse.reuse_stored(job, chunk_ids=list(copies))
        indexing.segment_count(segment, new + copied.chunks)
        if group_id is not None:
            groups.group_finish(group_id)
        EmbeddingJob.objects.filter(pk=job.pk).update(
            embedded_chunks=F("embedded_chunks") + new,
            embedded_tokens=F("embedded_tokens") + tokens,
            batch_tokens=F("batch_tokens") + (tokens if batch else 0),
            groups_done=F("groups_done") + 1,
            requests=F("requests") + 1,
            progressed_at=Now(),
        )
    indexing.segment_filled(job.pk, segment)
    finish_if_done(job.pk)
    return new


def finish_if_done(job_id: int, *, exact: bool = False) -> bool:
    """Complete the job when nothing is left to embed; the last task to finish does it.

    The counters say cheaply when the end may have come; only then is the job's every chunk
    checked, under the job's lock. ``exact`` checks regardless (a re-plan found no work: the
    remaining chunks were embedded by another job, which this job's counters never saw).
    """
    if not exact:
        counters = EmbeddingJob.objects.filter(pk=job_id).values("embedded_chunks", "failed_chunks", "total_chunks")
        row = counters.first()
        if row is None or row["embedded_chunks"] + row["failed_chunks"] < row["total_chunks"]:
            return False
    with transaction.atomic():
        job = EmbeddingJob.objects.select_for_update().filter(pk=job_id, status__in=ACTIVE_STATUSES).first()
        if job is None or job.ingesting or pending_chunks(job).exists():  # a streaming ingest adds more yet
            return False
        job.status = Status.COMPLETED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at"])
        if job.load_segment:
            indexing.maintain_soon()  # its last segment is indexed now, not at the next sweep
        return True


STORE_PATIENCE = 30.0  # seconds a paid response waits for PostgreSQL to come back before its task gives up
# PostgreSQL gone for a moment (a restart): a task that meets these is retried, not failed.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
# PostgreSQL refuses the vectors as they are (a size the column does not hold, a NaN): no retry mends it.
VECTORS_UNSTORABLE: tuple[type[Exception], ...] = (DataError,)


# --- a streaming ingest's end ---------------------------------------------------------------------

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
            transaction.on_commit(groups.batches_drive_soon)  # its last, partial batch can be formed now
    if not error:
        finish_if_done(job_id, exact=True)


def ingests_gone() -> list[int]:
    """End the ingests whose process is gone (killed, its host lost), so their jobs do not wait forever.

    A streaming ingest holds an advisory lock keyed by its job for as long as it runs
    (``streaming.job_ingest``), and PostgreSQL frees it when that session ends, however it ends.
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
