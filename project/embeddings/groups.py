"""Group rows: claim before pay, leases on the database's clock, and the sweep that reads them.

Every request group is a row (:class:`~project.embeddings.models.EmbeddingGroup`). A task
carries only the group's id and claims the row with one conditional UPDATE before it calls
the provider (:func:`group_claim`); a second delivery, a second resume, a pause→resume or a
sweep finds it claimed (or done) and does nothing. The lease says how long the row is spoken
for, on the database's clock (``now()``): a claim holds for a whole request
(``provider.lease_seconds``, from just before the call; ``claim_seconds`` until then), a retry
the task scheduled holds for its wait
(:func:`group_later`), and a group waiting in the queue for its turn behind other work holds for
the time the limit needs to serve what is ahead of it (:func:`groups_create`). The sweep
(:func:`groups_sweep`) re-enqueues only groups whose lease ran out; a group that lost its
lease while claimed ``lease_expirations()`` times pauses its job with the reason.

Example::

    group = group_claim(group_id)
    if group is None:
        return  # claimed by another task, done, or its job is not active
"""

from __future__ import annotations

import uuid

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Sum, Value
from django.db.models.functions import Now

from project.celery import BATCHES_DRIVE, EMBED_GROUP, app
from project.provider import claim_seconds, lease_expirations, lease_seconds, limits, stall_seconds

from project.embeddings.models import (
    ACTIVE_STATUSES,
    UNFINISHED_GROUP_STATES,
    EmbeddingGroup,
    EmbeddingJob,
    GroupState,
    Lane,
    Status,
)

__all__ = [
    "group_calling",
    "group_claim",
    "group_finish",
    "group_later",
    "group_split",
    "groups_create",
    "groups_resend",
    "groups_sweep",
]

logger = logging.getLogger(__name__)

BULK, INTERACTIVE = "bulk", "interactive"  # the lanes' queues
# A queued group's lease is the limit's time for the work ahead of it times this (the pool runs a
# little below the limit), plus the stall time: only then is its task taken for lost.
QUEUE_SLACK = 1.5


def _in(seconds: float) -> ExpressionWrapper:
    """``now() + seconds`` on the database's clock."""
    return ExpressionWrapper(Now() + Value(timedelta(seconds=seconds)), output_field=DateTimeField())


def database_now() -> datetime:
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        return cursor.fetchone()[0]


def _queue_leases(tokens: Sequence[int]) -> list[datetime]:
    """Leases for groups joining the queue: the limit's time for the work ahead of each, plus a claim's."""
    ahead = EmbeddingGroup.objects.filter(
        state__in=UNFINISHED_GROUP_STATES, job__status__in=ACTIVE_STATUSES, lane=Lane.SYNC
    )
    queued = ahead.aggregate(total=Sum("tokens"))["total"] or 0
    configured = limits()
    per_second = configured.tokens / configured.window_seconds
    now, leases = database_now(), []
    for size in tokens:
        queued += size
        leases.append(now + timedelta(seconds=QUEUE_SLACK * queued / per_second + stall_seconds()))
    return leases


def groups_create(
    job: EmbeddingJob, groups: Sequence[tuple[list[int], int]], *, interactive: bool, paced: bool, send: bool = True
) -> list[EmbeddingGroup]:
    """Rows for ``groups`` ((chunk ids, tokens sent) each), sent to the workers once the transaction commits.

    ``send=False`` (a paused job's streaming ingest) only records them: a resume sends them. A
    batch-lane job's groups wait for the batch driver instead (``batches.py``), which is asked
    to run once they commit; they hold no lease, since no task is queued for them.
    """
    if job.lane == Lane.BATCH:
        rows = EmbeddingGroup.objects.bulk_create(
            EmbeddingGroup(job=job, chunk_ids=chunk_ids, tokens=tokens, lane=Lane.BATCH, paced=False)
            for chunk_ids, tokens in groups
        )
        if send and rows:
            transaction.on_commit(batches_drive_soon)
        return rows
    leases = _queue_leases([tokens for _, tokens in groups])
    rows = EmbeddingGroup.objects.bulk_create(
        EmbeddingGroup(
            job=job, chunk_ids=chunk_ids, tokens=tokens, interactive=interactive, paced=paced, lease_until=lease
        )
        for (chunk_ids, tokens), lease in zip(groups, leases, strict=True)
    )
    if send:
        _send_on_commit(rows)
    return rows


def batches_drive_soon() -> None:
    """Ask a worker to run the batch driver now rather than at beat's next poll."""
    app.send_task(BATCHES_DRIVE, queue=INTERACTIVE)


def groups_resend(job: EmbeddingJob) -> list[EmbeddingGroup]:
    """Send the job's pending groups again (a resume): a task still queued for one finds it claimed or done.

    The batch lane's pending groups are the batch driver's: it is asked to run.
    """
    if EmbeddingGroup.objects.filter(job=job, state=GroupState.PENDING, lane=Lane.BATCH).exists():
        transaction.on_commit(batches_drive_soon)
    pending = list(EmbeddingGroup.objects.filter(job=job, state=GroupState.PENDING, lane=Lane.SYNC).order_by("pk"))
    for group, lease in zip(pending, _queue_leases([g.tokens for g in pending]), strict=True):
        EmbeddingGroup.objects.filter(pk=group.pk, state=GroupState.PENDING).update(lease_until=lease)
    _send_on_commit(pending)
    return pending


def _send_on_commit(groups: Sequence[EmbeddingGroup]) -> None:
    for group in groups:
        transaction.on_commit(lambda group=group: group_send(group.pk, interactive=group.interactive))


def group_send(group_id: int, *, interactive: bool) -> None:
    app.send_task(EMBED_GROUP, (group_id,), queue=INTERACTIVE if interactive else BULK)


CLAIM_SQL = """
    UPDATE {group} AS g SET state = 'claimed', attempts = g.attempts + 1,
        expirations = g.expirations + (g.state = 'claimed' AND g.holder <> %(holder)s)::int,
        lease_until = now() + %(lease)s * interval '1 second', holder = %(holder)s
    FROM {job} AS j
    WHERE g.id = %(group)s AND j.id = g.job_id AND j.status = ANY(%(active)s) AND g.lane = 'sync'
      AND (g.state = 'pending' OR (g.state = 'claimed' AND (g.lease_until < now() OR g.holder = %(holder)s)))
    RETURNING g.id, g.job_id, g.chunk_ids, g.tokens, g.interactive, g.paced, g.attempts, g.expirations
"""


def group_claim(group_id: int, *, holder: str = "") -> EmbeddingGroup | None:
    """Take the group for one call, if it is pending (or its holder's lease ran out) and its job is active.

    One conditional UPDATE: of two tasks claiming at once, exactly one gets the row. Taking over
    a claimed group whose lease ran out counts an expiration. ``holder`` (the Celery task's id,
    which its retries keep) may take back its own claim at once: a task that met PostgreSQL
    gone mid-store could not give the claim back, and its retry must not wait out the lease.
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
    names = ("id", "job_id", "chunk_ids", "tokens", "interactive", "paced", "attempts", "expirations")
    group = EmbeddingGroup(**dict(zip(names, row, strict=True)), state=GroupState.CLAIMED)
    if group.expirations >= lease_expirations():
        _poisoned(group)
        return None
    return group


def group_calling(group_id: int) -> None:
    """The holder is about to call the provider: its claim now covers a whole request (``lease_seconds``)."""
    EmbeddingGroup.objects.filter(pk=group_id, state=GroupState.CLAIMED).update(lease_until=_in(lease_seconds()))


def group_later(group_id: int, wait_seconds: float) -> None:
    """Give the claim back until a retry ``wait_seconds`` away: the lease covers the wait, then the stall time."""
    EmbeddingGroup.objects.filter(pk=group_id, state=GroupState.CLAIMED).update(
        state=GroupState.PENDING, lease_until=_in(wait_seconds + stall_seconds())
    )


def group_finish(group_id: int, *, state: str = GroupState.DONE) -> None:
    EmbeddingGroup.objects.filter(pk=group_id).update(state=state, lease_until=None)


def group_split(group: EmbeddingGroup, halves: Sequence[tuple[list[int], int]]) -> list[EmbeddingGroup]:
    """Replace a claimed group by smaller ones (to isolate an input the API rejects, or that never fits)."""
    with transaction.atomic():
        group_finish(group.pk)
        job = EmbeddingJob.objects.get(pk=group.job_id)
        EmbeddingJob.objects.filter(pk=job.pk).update(total_groups=F("total_groups") + len(halves) - 1)
        return groups_create(job, halves, interactive=group.interactive, paced=group.paced)


def _poisoned(group: EmbeddingGroup) -> None:
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


def groups_sweep(*, job_id: int | None = None) -> list[int]:
    """Re-enqueue the groups of running jobs whose lease ran out; returns their ids.

    A group merely waiting (in the queue, for a cooldown, for a retry's ETA) holds a lease that
    covers the wait, so it is left alone. Taking over an expired claim counts an expiration, and
    the ``lease_expirations()``-th pauses the job instead.
    """
    expired = EmbeddingGroup.objects.filter(
        state__in=UNFINISHED_GROUP_STATES, lease_until__lt=Now(), job__status=Status.RUNNING, lane=Lane.SYNC
    )
    if job_id is not None:
        expired = expired.filter(job_id=job_id)
    swept = []
    for group in expired.order_by("pk")[:1000]:
        was_claimed = group.state == GroupState.CLAIMED
        with transaction.atomic():
            moved = EmbeddingGroup.objects.filter(
                pk=group.pk, state=group.state, lease_until__lt=Now()
            ).update(
                state=GroupState.PENDING,
                expirations=F("expirations") + int(was_claimed),
                lease_until=_queue_leases([group.tokens])[0],
            )
            if not moved:  # another sweep, or its task, got there first
                continue
            group.refresh_from_db()
            if group.expirations >= lease_expirations():
                _poisoned(group)
                continue
            transaction.on_commit(lambda group=group: group_send(group.pk, interactive=group.interactive))
        swept.append(group.pk)
    return swept


def groups_unfinished(job: EmbeddingJob) -> list[EmbeddingGroup]:
    return list(EmbeddingGroup.objects.filter(job=job, state__in=UNFINISHED_GROUP_STATES).order_by("pk"))
