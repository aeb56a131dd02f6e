"""The write path of a paid response, either lane: match the vectors, store them once, copy them to
the chunks that share an input, count.

A paid response is stored before anything else that can fail (the limiter's bookkeeping comes
after, in the gate's ``Passage.settle``), and exactly once per (chunk, model): a redelivered
task's rows conflict and are dropped, and the counters move by what was new. While PostgreSQL is
away (a restart) the store is tried again for up to ``STORE_PATIENCE`` seconds instead of
dropping vectors that a retry would pay for again. A response that can never be stored (vectors
of another size, a value PostgreSQL refuses) pauses the job with the reason, once.

Example::

    store_paid(job, group, todo, passage.result.vectors, passage.result.total_tokens)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from django.db import DataError, InterfaceError, OperationalError, connection, transaction

from project.embeddings.groups import life
from project.embeddings.groups.inputs import Send
from project.embeddings.index import segments
from project.embeddings.jobs import tally
from project.embeddings.jobs.counters import count, fail_chunks
from project.embeddings.jobs.status import finish_if_done, pause
from project.embeddings.models import ACTIVE_STATUSES, EmbeddingGroup, EmbeddingJob
from project.embeddings.store.copy import vectors_store
from project.embeddings.store.inflight import WAIT_FOR_ANOTHER
from project.embeddings.store.reuse import reuse_stored
from providers.inputs import combine

__all__ = ["DATABASE_UNAVAILABLE", "Matched", "match_vectors", "store_paid"]

logger = logging.getLogger(__name__)

STORE_PATIENCE = 30.0  # seconds a paid response waits for PostgreSQL to come back before its task gives up
# PostgreSQL gone for a moment (a restart): a task that meets these is retried, not failed.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
# PostgreSQL refuses the vectors as they are (a size the column does not hold, a NaN): no retry mends it.
VECTORS_UNSTORABLE: tuple[type[Exception], ...] = (DataError,)


def store_paid(
    job: EmbeddingJob,
    group: EmbeddingGroup,
    todo: list[Send],
    vectors: list[np.ndarray],
    tokens: int,
    *,
    batch: bool = False,
    waits: int = 0,
    rest_waiting: bool = False,
) -> int:
    """Store what a paid response holds; fail the inputs it lacks; pause the job for what it cannot store.

    ``group`` is the claimed group that sent ``todo`` (its holder: the task, or the batch);
    ``vectors`` are in the order ``todo`` sent its texts; ``tokens`` is what the provider billed;
    ``batch``: paid on the batch lane (at its price); ``waits``: times the limiter said "not now" on
    the way (counted with the store); ``rest_waiting``: the group holds inputs another group is
    sending (``inflight.py``), so it goes back to wait for them instead of being done. Returns
    how many embeddings are new.
    """
    matched = match_vectors(todo, vectors, job.dimensions)
    if matched.wrong_dimensions is not None:
        reason = (
            f"the provider answered {matched.wrong_dimensions}-dimension vectors for a job of {job.dimensions} "
            "(does it ignore `dimensions`?); nothing can be stored until that is fixed"
        )
        _unstorable(job, group, tokens, reason, batch=batch)
        return 0
    try:
        new = _store_patiently(job, group, matched, tokens, batch=batch, waits=waits, done=not rest_waiting)
    except VECTORS_UNSTORABLE as exc:
        _unstorable(job, group, tokens, f"the vectors could not be stored: {exc}".strip(), batch=batch)
        return 0
    if matched.missing:
        served = sum(1 for vector in vectors if vector.size)
        inputs = sum(len(send.inputs.texts) for send in todo)
        reason = f"the provider answered {served} vectors for {inputs} inputs; this one had none"
        fail_chunks(job.pk, [pk for send in matched.missing for pk in send.chunk_ids], reason)
    return new


# --- 1. match ------------------------------------------------------------------------------------


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


# --- 2. store once, copy to sharers, count ---------------------------------------------------------


def _store_patiently(
    job: EmbeddingJob, group: EmbeddingGroup, matched: Matched, tokens: int, *, batch: bool, waits: int, done: bool
) -> int:
    """:func:`_store_once`, tried again while PostgreSQL is away, for up to ``STORE_PATIENCE`` seconds."""
    deadline, pause_for = time.monotonic() + STORE_PATIENCE, 0.25
    while True:
        try:
            return _store_once(job, group, matched, tokens, batch=batch, waits=waits, done=done)
        except DATABASE_UNAVAILABLE:
            if time.monotonic() + pause_for > deadline:
                raise
            connection.close()  # the next query opens a new connection
            time.sleep(pause_for)
            pause_for = min(2 * pause_for, 4.0)


def _store_once(
    job: EmbeddingJob, group: EmbeddingGroup, matched: Matched, tokens: int, *, batch: bool, waits: int, done: bool
) -> int:
    """One transaction: the vectors (binary COPY), their copies, the group done, the counters.

    The rows go to the job's load segment (``index/segments.py``): the live index, or a
    backfill's segment that is indexed in bulk later. Inserting into the live index, the slow
    part, runs in parallel across groups. A holder that lost its claim meanwhile still stores what it paid for (each row once);
    the group and its count are then the new holder's. The counters are a tally (``jobs/tally.py``),
    so no row here is one every other worker's store waits for.
    """
    with transaction.atomic():
        segment = segments.store_segment(job.pk)
        new = vectors_store(
            model=job.model, dimensions=job.dimensions, vectors=matched.vectors, input_hashes=matched.addresses,
            segment=segment,
        )  # fmt: skip
        reuse_stored(job, chunk_ids=list(matched.copies))  # counts its copies in a tally of its own
        held = life.stored(group) if done else not life.later(group, WAIT_FOR_ANOTHER)
        tally.add(
            job.pk, segment=segment, rows=new, embedded_chunks=new, embedded_tokens=tokens,
            batch_tokens=tokens if batch else 0, groups_done=int(held), requests=1, limiter_waits=waits,
        )  # fmt: skip
    segments.segment_filled(job.pk, segment)
    if job.status not in ACTIVE_STATUSES:  # stored after a pause or a cancel: its row is what readers see
        tally.fold(job.pk)
    elif not finish_if_done(job.pk):
        tally.fold_soon(job.pk)
    return new


def _unstorable(job: EmbeddingJob, group: EmbeddingGroup, tokens: int, reason: str, *, batch: bool) -> None:
    """A paid response that can never be stored: count what it cost, pause the job with the reason."""
    count(job.pk, requests=1, embedded_tokens=tokens, batch_tokens=tokens if batch else 0)
    life.fail(group)
    pause(job.pk, reason)
    logger.error("job %s paused: %s", job.pk, reason)
