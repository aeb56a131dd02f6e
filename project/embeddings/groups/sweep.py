"""The sweep: the database is the truth, so a group whose lease ran out is sent to the workers again.

A group merely waiting (in the queue, for a cooldown, for a retry's ETA) holds a lease that
covers the wait, so it is left alone; only a lease that ran out means its task was lost (a
worker killed with it, a broker that forgot it) or its holder hung.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models.functions import Now

from project.embeddings.groups import life
from project.embeddings.groups.queue import group_send, queue_leases
from project.embeddings.models import UNFINISHED_GROUP_STATES, EmbeddingGroup, Lane, Status
from project.provider import lease_expirations

__all__ = ["groups_sweep"]

SWEEP_BATCH = 1000  # groups one sweep takes at most; the next takes the rest


def groups_sweep(*, job_id: int | None = None) -> list[int]:
    """Re-enqueue the groups of running jobs whose lease ran out; returns their ids.

    Taking over an expired claim counts an expiration, and the ``lease_expirations()``-th
    pauses the job instead (``life.poisoned``).
    """
    expired = EmbeddingGroup.objects.filter(
        state__in=UNFINISHED_GROUP_STATES, lease_until__lt=Now(), job__status=Status.RUNNING, lane=Lane.SYNC
    )
    if job_id is not None:
        expired = expired.filter(job_id=job_id)
    swept = []
    for group in expired.order_by("pk")[:SWEEP_BATCH]:
        with transaction.atomic():
            if not life.expired(group, queue_leases([group.tokens])[0]):
                continue  # another sweep, or its task, got there first
            group.refresh_from_db()
            if group.expirations >= lease_expirations():
                life.poisoned(group)
                continue
            transaction.on_commit(lambda group=group: group_send(group.pk, interactive=group.interactive))
        swept.append(group.pk)
    return swept
