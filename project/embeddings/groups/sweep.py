"""The sweep: the database is the truth, so a group whose lease ran out is sent to the workers again.

A group merely waiting (in the queue, for a cooldown, for a retry's ETA) holds a lease that
covers the wait, so it is left alone; only a lease that ran out means its task was lost (a
worker killed with it, a broker that forgot it) or its holder hung.
"""

from __future__ import annotations

from django.db import transaction

from project.embeddings.groups import life
from project.embeddings.groups.queue import group_send, queued_tokens, seconds_per_token
from project.provider import lease_expirations, stall_seconds

__all__ = ["groups_sweep"]

SWEEP_BATCH = 10_000  # groups one sweep statement takes at most; the next statement takes the rest


def groups_sweep(*, job_id: int | None = None) -> list[int]:
    """Re-enqueue the groups of running jobs whose lease ran out; returns their ids.

    One statement a batch (``life.expired``) and one aggregate of the queue, however many groups
    ran out: the time grows with the backlog, not with its square (``bench/sweep.py``). Taking
    over an expired claim counts an expiration, and the ``lease_expirations()``-th pauses the job
    instead (``life.poisoned``).
    """
    swept: list[int] = []
    while True:
        with transaction.atomic():
            taken = life.expired(
                queue_seconds=queued_tokens() * seconds_per_token() + stall_seconds(),
                seconds_per_token=seconds_per_token(), most=SWEEP_BATCH, job_id=job_id,
            )  # fmt: skip
            poisoned = [group for group in taken if group.expirations >= lease_expirations()]
            for group in poisoned:
                life.poisoned(group)
            sent = [group for group in taken if group.expirations < lease_expirations()]
            transaction.on_commit(lambda sent=sent: [group_send(g.pk, interactive=g.interactive) for g in sent])
        swept += [group.pk for group in sent]
        if len(taken) < SWEEP_BATCH:
            return swept
