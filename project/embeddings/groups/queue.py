"""Groups join the queue: rows written with a lease covering their wait, one task each sent after commit.

Only a group's id travels in a task; the worker re-reads the row and claims it
(``life.claim``). A group waiting in the queue for its turn behind other work holds a lease of
the time the limit needs to serve what is ahead of it, so the sweep leaves it alone meanwhile.
Tasks are sent by name through the Celery app after the transaction commits, so a worker never
looks for a row that is not yet visible, and this room never imports the workers'.

The bulk queue has two places (kombu's Redis priorities: a worker takes every ``AHEAD`` task
before any ``BEHIND`` one). A job's groups go ``BEHIND``, first come first served, while its
owner is alone on the sync lane. Work that is some owner's turn goes ``AHEAD`` (fair share,
``groups/fairshare.py``): the groups of a job started while another owner has work, an owner's
held groups sent again, and a claimed group's retry (it is in flight already). So a later
owner's job never waits behind the tasks of a backfill enqueued before it; with fair share off
(``TOLLGATE_FAIR_SHARE_WINDOWS=0``) everything goes ``BEHIND``, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Sum

from project.celery import BATCHES_DRIVE, EMBED_GROUP, app
from project.embeddings.groups import life
from project.embeddings.models import (
    ACTIVE_STATUSES,
    UNFINISHED_GROUP_STATES,
    EmbeddingGroup,
    EmbeddingJob,
    GroupState,
    Lane,
)
from project.provider import fair_share_depth, limits, stall_seconds

__all__ = ["AHEAD", "BEHIND", "BULK", "INTERACTIVE", "group_send", "groups_create", "groups_resend", "groups_split", "groups_unfinished"]

BULK, INTERACTIVE = "bulk", "interactive"  # the lanes' queues
AHEAD, BEHIND = 0, 9  # the bulk queue's two places: kombu's Redis transport serves priority 0 first
# A queued group's lease is the limit's time for the work ahead of it times this (the pool runs a
# little below the limit), plus the stall time: only then is its task taken for lost.
QUEUE_SLACK = 1.5


def seconds_per_token() -> float:
    """What one queued token adds to the wait of the groups behind it: the limit's time, with slack."""
    configured = limits()
    return QUEUE_SLACK * configured.window_seconds / configured.tokens


def queued_tokens() -> int:
    """The tokens of every group waiting or in flight on the sync lane (one aggregate)."""
    ahead = EmbeddingGroup.objects.filter(
        state__in=UNFINISHED_GROUP_STATES, job__status__in=ACTIVE_STATUSES, lane=Lane.SYNC
    )
    return ahead.aggregate(total=Sum("tokens"))["total"] or 0


def queue_leases(tokens: Sequence[int]) -> list[datetime]:
    """Leases for groups joining the queue: the limit's time for the work ahead of each, plus a claim's."""
    queued, per_token = queued_tokens(), seconds_per_token()
    now, leases = life.database_now(), []
    for size in tokens:
        queued += size
        leases.append(now + timedelta(seconds=queued * per_token + stall_seconds()))
    return leases


def groups_create(
    job: EmbeddingJob, groups: Sequence[tuple[list[int], int]], *, interactive: bool, paced: bool, send: bool = True
) -> list[EmbeddingGroup]:
    """Rows for ``groups`` ((chunk ids, tokens sent) each), sent to the workers once the transaction commits.

    ``send=False`` (a paused job's streaming ingest) only records them: a resume sends them. A
    batch-lane job's groups wait for the batch driver instead (``batches/``), which is asked
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
    leases = queue_leases([tokens for _, tokens in groups])
    ahead = send and not interactive and shared_with_another(job)
    rows = EmbeddingGroup.objects.bulk_create(
        EmbeddingGroup(
            job=job, chunk_ids=chunk_ids, tokens=tokens, interactive=interactive, paced=paced, lease_until=lease
        )
        for (chunk_ids, tokens), lease in zip(groups, leases, strict=True)
    )
    if send:
        _send_on_commit(rows, ahead=ahead)
    return rows


def shared_with_another(job: EmbeddingJob) -> bool:
    """Whether another owner has sync-lane work (fair share on): then ``job``'s groups go ``AHEAD``.

    Behind, they would wait for every task the other owner enqueued before them (a worker
    claims and holds each of those first); ahead, the fair share's claims (``waits_its_turn``)
    keep ``job``'s owner to its share from the start. One EXISTS on the unfinished groups.
    """
    if fair_share_depth() <= 0:
        return False
    others = EmbeddingGroup.objects.filter(
        state__in=UNFINISHED_GROUP_STATES, lane=Lane.SYNC, interactive=False, job__status__in=ACTIVE_STATUSES
    ).exclude(job__owner_id=job.owner_id)
    return others.exists()


def groups_split(group: EmbeddingGroup, halves: Sequence[tuple[list[int], int]]) -> list[EmbeddingGroup] | None:
    """Replace a claimed group by smaller ones (to isolate an input the API rejects, or that never fits).

    Returns the new groups, or None when the caller no longer held the claim (nothing changes).
    """
    with transaction.atomic():
        if not life.finish(group):
            return None
        job = EmbeddingJob.objects.get(pk=group.job_id)
        EmbeddingJob.objects.filter(pk=job.pk).update(total_groups=F("total_groups") + len(halves) - 1)
        return groups_create(job, halves, interactive=group.interactive, paced=group.paced)


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
    for group, lease in zip(pending, queue_leases([g.tokens for g in pending]), strict=True):
        life.queued(group.pk, lease)
    _send_on_commit(pending)
    return pending


def _send_on_commit(groups: Sequence[EmbeddingGroup], *, ahead: bool = False) -> None:
    for group in groups:
        transaction.on_commit(lambda group=group: group_send(group.pk, interactive=group.interactive, ahead=ahead))


def group_send(group_id: int, *, interactive: bool, ahead: bool = False) -> None:
    """One task for the group: on the interactive queue, or on the bulk queue ``AHEAD`` or ``BEHIND``."""
    if interactive:
        app.send_task(EMBED_GROUP, (group_id,), queue=INTERACTIVE)
    else:
        app.send_task(EMBED_GROUP, (group_id,), queue=BULK, priority=AHEAD if ahead else BEHIND)


def groups_unfinished(job: EmbeddingJob) -> list[EmbeddingGroup]:
    return list(EmbeddingGroup.objects.filter(job=job, state__in=UNFINISHED_GROUP_STATES).order_by("pk"))
