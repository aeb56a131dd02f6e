"""A group's life: the only code that changes an :class:`EmbeddingGroup` row once it exists.

::

    pending ──claim──► claimed ──calling──► claimed, leased for a whole request
                         │ later / release ──► pending, leased for the wait
                         │ stored / finish ──► done        fail ──► failed
                         │ split (queue.py) ──► done, and smaller pending groups in its place
    claimed, lease run out ──expired──► pending (one more expiration; too many: poisoned)
    claimed ──hold──► pending, held (its owner is at its fair share: no task, no lease) ──unhold──► pending, sent
    pending (batch lane) ──batch_take──► claimed by the batch ──batch_return──► pending
    pending, nothing left to send ──finish_pending──► done

A claim belongs to a holder: the Celery task that took it (its id, which its retries keep), or
the batch that carries a batch-lane group (``batch-<key>``). Every transition of a claimed group
is one conditional UPDATE that names the holder, and returns whether the caller still held it
(and lets go of the inputs it claimed as in flight, ``store/inflight.py``):
a worker that stalled past its lease (a GC pause, a lock wait, a suspended VM) finds the group
given to another and must not call the provider, nor put the other's group back.

The lease says how long the row is spoken for, on the database's clock (``now()``): a fresh
claim holds for ``provider.claim_seconds`` (the gate's waits and the stall time), a claim about
to call for a whole request (``provider.lease_seconds``), a retry for its wait plus the stall
time. The sweep (``groups/sweep.py``) takes only groups whose lease ran out.

Example::

    group = claim(group_id, holder=task_id)
    if group is None:
        return  # claimed by another task, done, or its job is not active
    if not calling(group):
        return  # stalled past the lease: another holder has it now
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, Value
from django.db.models.functions import Now

from project.embeddings.models import (
    ACTIVE_STATUSES,
    EmbeddingGroup,
    EmbeddingJob,
    GroupState,
    InputClaim,
    Lane,
    Status,
)
from project.provider import claim_seconds, lease_expirations, lease_seconds, stall_seconds

__all__ = [
    "batch_holder",
    "batch_return",
    "batch_take",
    "calling",
    "claim",
    "database_now",
    "expired",
    "fail",
    "finish",
    "finish_pending",
    "hold",
    "later",
    "poisoned",
    "queued",
    "release",
    "stored",
    "unhold",
]

logger = logging.getLogger(__name__)


def _in(seconds: float) -> ExpressionWrapper:
    """``now() + seconds`` on the database's clock."""
    return ExpressionWrapper(Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField())


def _held(group: EmbeddingGroup):
    """The group's row, if ``group``'s holder still holds its claim."""
    return EmbeddingGroup.objects.filter(pk=group.pk, state=GroupState.CLAIMED, holder=group.holder)


CLAIM_SQL = """
    UPDATE {group} AS g SET state = 'claimed', attempts = g.attempts + 1,
        expirations = g.expirations + (g.state = 'claimed' AND g.holder <> %(holder)s)::int,
        lease_until = now() + %(lease)s * interval '1 second', holder = %(holder)s
    FROM {job} AS j
    WHERE g.id = %(group)s AND j.id = g.job_id AND j.status = ANY(%(active)s) AND g.lane = 'sync'
      AND (g.state = 'pending' OR (g.state = 'claimed' AND (g.lease_until < now() OR g.holder = %(holder)s)))
    RETURNING g.id, g.job_id, g.chunk_ids, g.tokens, g.interactive, g.paced, g.attempts, g.expirations, g.holder,
        j.owner_id, j.status, j.model, j.dimensions, j.long_input_policy, j.lane
"""
GROUP_FIELDS = ("id", "job_id", "chunk_ids", "tokens", "interactive", "paced", "attempts", "expirations", "holder")
JOB_FIELDS = ("owner_id", "status", "model", "dimensions", "long_input_policy", "lane")


def claim(group_id: int, *, holder: str = "") -> EmbeddingGroup | None:
    """Take the group for one call, if it is pending (or its holder's lease ran out) and its job is active.

    One conditional UPDATE: of two tasks claiming at once, exactly one gets the row. Taking over
    a claimed group whose lease ran out counts an expiration. ``holder`` (the Celery task's id,
    which its retries keep) may take back its own claim at once: a task that met PostgreSQL
    gone mid-store could not give the claim back, and its retry must not wait out the lease.
    Returns the claimed group (its ``holder`` set), or None.
    """
    sql = CLAIM_SQL.format(group=EmbeddingGroup._meta.db_table, job=EmbeddingJob._meta.db_table)
    params = {
        "lease": claim_seconds(),
        "group": group_id,
        "active": [str(status) for status in ACTIVE_STATUSES],
        "holder": holder or f"anonymous-{uuid.uuid4()}",  # no holder: never matches another's
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    group = EmbeddingGroup(**dict(zip(GROUP_FIELDS, row, strict=False)), state=GroupState.CLAIMED)
    # The job as the claim read it: its other fields are deferred (read from the database if asked for).
    group.job = EmbeddingJob.from_db("default", ("id", *JOB_FIELDS), (group.job_id, *row[len(GROUP_FIELDS) :]))
    if group.expirations >= lease_expirations():
        poisoned(group)
        return None
    return group


def calling(group: EmbeddingGroup) -> bool:
    """The holder is about to call the provider: its claim now covers a whole request (``lease_seconds``).

    False: the claim was lost meanwhile (the lease ran out and the sweep gave the group to
    another): the caller must not call.
    """
    return bool(_held(group).update(lease_until=_in(lease_seconds())))


MOVE_SQL = """
    WITH released AS (
        DELETE FROM {claims} WHERE group_id = %(group)s AND EXISTS (
            SELECT 1 FROM {groups} WHERE id = %(group)s AND state = 'claimed' AND holder = %(holder)s)
    )
    UPDATE {groups} SET state = %(state)s,
        lease_until = CASE WHEN %(lease)s::float IS NULL THEN NULL ELSE now() + %(lease)s * interval '1 second' END,
        deployment = CASE WHEN %(deployment)s = '' THEN deployment ELSE %(deployment)s END, held = %(held)s
    WHERE id = %(group)s AND state = 'claimed' AND holder = %(holder)s
"""


def _move(group: EmbeddingGroup, state: str, lease: float | None, *, held: bool = False) -> bool:
    """One conditional UPDATE of a claimed group (and its inputs in flight let go, ``store/inflight.py``)."""
    names = {"groups": EmbeddingGroup._meta.db_table, "claims": InputClaim._meta.db_table}
    params = {"group": group.pk, "holder": group.holder, "state": state, "lease": lease, "held": held}
    with connection.cursor() as cursor:
        cursor.execute(MOVE_SQL.format(**names), {**params, "deployment": group.deployment})
        return cursor.rowcount == 1


def later(group: EmbeddingGroup, wait_seconds: float) -> bool:
    """Give the claim back until a retry ``wait_seconds`` away: the lease covers the wait, then the stall time.

    False: it was no longer the caller's to give back (another holder's group stays as it is).
    """
    return _move(group, GroupState.PENDING, wait_seconds + stall_seconds())


def release(group: EmbeddingGroup) -> bool:
    """Give the claim back at once (its job paused, Redis gone): a resume or the task's retry takes it again."""
    return later(group, 0)


def hold(group: EmbeddingGroup) -> bool:
    """Give the claim back without a task: the group waits for its owner's turn (``groups/fairshare.py``).

    Held, it has no lease, so the sweep leaves it alone; the dispatcher sends it (:func:`unhold`).
    """
    return _move(group, GroupState.PENDING, None, held=True)


def unhold(group_ids: Sequence[int], lease: datetime) -> list[int]:
    """Held groups sent to the workers (their owner's turn): not held, leased for their wait in the queue."""
    moved = EmbeddingGroup.objects.filter(pk__in=group_ids, state=GroupState.PENDING, held=True)
    ids = list(moved.values_list("pk", flat=True))
    EmbeddingGroup.objects.filter(pk__in=ids).update(held=False, lease_until=lease)
    return ids


def stored(group: EmbeddingGroup) -> bool:
    """The group's vectors are stored (in the caller's transaction): done. False: another holder has it now.

    ``group.deployment`` (the pool's deployment that served it, set by the worker) is recorded with it.
    """
    return _move(group, GroupState.DONE, None)


def finish(group: EmbeddingGroup) -> bool:
    """Nothing is left to send for the group (stored meanwhile, by reuse or by another job): done."""
    return stored(group)


def fail(group: EmbeddingGroup) -> bool:
    """The group's inputs can never be embedded as they are (their chunks failed with the reason)."""
    return _move(group, GroupState.FAILED, None)


def queued(group_id: int, lease: datetime) -> bool:
    """A pending group sent to the workers again (a resume): its lease covers its wait in the queue."""
    return bool(
        EmbeddingGroup.objects.filter(pk=group_id, state=GroupState.PENDING).update(lease_until=lease, held=False)
    )


EXPIRED_SQL = """
    WITH expired AS (
        SELECT g.id, g.state, g.tokens FROM {group} AS g JOIN {job} AS j ON j.id = g.job_id
        WHERE g.state IN ('pending', 'claimed') AND g.lease_until < now() AND g.lane = 'sync'
          AND j.status = 'running' {only_job}
        ORDER BY g.id LIMIT %(most)s FOR UPDATE OF g SKIP LOCKED
    ), queued AS (
        SELECT e.id, e.state, sum(e.tokens) OVER (ORDER BY e.id) AS ahead FROM expired AS e
    )
    UPDATE {group} AS g SET state = 'pending', expirations = g.expirations + (q.state = 'claimed')::int,
        lease_until = now() + (%(queue_seconds)s + q.ahead * %(seconds_per_token)s) * interval '1 second'
    FROM queued AS q WHERE g.id = q.id
    RETURNING g.id, g.job_id, g.chunk_ids, g.interactive, g.expirations
"""


def expired(
    *, queue_seconds: float, seconds_per_token: float, most: int, job_id: int | None = None
) -> list[EmbeddingGroup]:
    """The sweep takes up to ``most`` groups of running jobs whose lease ran out back to pending, in one statement.

    Each counts an expiration if it was claimed, and gets a lease covering its place in the
    queue: ``queue_seconds`` (the work already queued ahead of them all) plus its own share of
    ``seconds_per_token`` times the tokens of the swept groups before it. Rows another sweep or
    their task holds are skipped (``SKIP LOCKED``); a task that claims one after finds it pending.
    """
    names = {"group": EmbeddingGroup._meta.db_table, "job": EmbeddingJob._meta.db_table}
    only_job = "AND g.job_id = %(job)s" if job_id is not None else ""
    params = {"most": most, "queue_seconds": queue_seconds, "seconds_per_token": seconds_per_token, "job": job_id}
    with connection.cursor() as cursor:
        cursor.execute(EXPIRED_SQL.format(**names, only_job=only_job), params)
        rows = cursor.fetchall()
    fields = ("id", "job_id", "chunk_ids", "interactive", "expirations")
    return [EmbeddingGroup(**dict(zip(fields, row, strict=True)), state=GroupState.PENDING) for row in rows]


def poisoned(group: EmbeddingGroup) -> None:
    """A group that lost its worker too often: back to pending, and its job paused with the reason."""
    reason = (
        f"group {group.pk} ({len(group.chunk_ids)} chunks) lost its worker {group.expirations} times "
        "without finishing (a worker that died or hung on it each time); resume the job to try again"
    )
    with transaction.atomic():
        EmbeddingGroup.objects.filter(pk=group.pk).update(state=GroupState.PENDING, expirations=0, lease_until=None)
        EmbeddingJob.objects.filter(pk=group.job_id, status__in=ACTIVE_STATUSES).update(
            status=Status.PAUSED, last_error=reason
        )
    logger.error("job %s paused: %s", group.job_id, reason)


# --- the batch lane: a batch holds its groups ------------------------------------------------------


def batch_holder(key: str) -> str:
    """The holder name of the groups a batch carries."""
    return f"batch-{key}"


def batch_take(group: EmbeddingGroup, *, batch_id: int, key: str, chunk_ids: list[int], tokens: int) -> bool:
    """A pending batch-lane group becomes a line of the batch (narrowed to what is still unpaid)."""
    moved = EmbeddingGroup.objects.filter(pk=group.pk, state=GroupState.PENDING, lane=Lane.BATCH).update(
        chunk_ids=chunk_ids, tokens=tokens, state=GroupState.CLAIMED, batch_id=batch_id,
        holder=batch_holder(key), lease_until=None,
    )  # fmt: skip
    group.chunk_ids, group.tokens, group.holder, group.state = chunk_ids, tokens, batch_holder(key), GroupState.CLAIMED
    return bool(moved)


def finish_pending(group: EmbeddingGroup) -> bool:
    """A pending group with nothing left to send (its inputs were stored meanwhile): done, unclaimed."""
    return bool(EmbeddingGroup.objects.filter(pk=group.pk, state=GroupState.PENDING).update(state=GroupState.DONE))


def batch_return(batch_id: int, *, group_ids: Sequence[int] | None = None, lane: str = Lane.BATCH) -> int:
    """The batch's groups still claimed by it go back to pending (on ``lane``); returns how many."""
    groups = EmbeddingGroup.objects.filter(batch_id=batch_id, state=GroupState.CLAIMED)
    if group_ids is not None:
        groups = groups.filter(pk__in=group_ids)
    return groups.update(state=GroupState.PENDING, batch=None, holder="", lane=lane)


def database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]
