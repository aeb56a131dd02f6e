"""Fair share among owners on the sync lane: who waits for their turn, and who is sent next.

Every group is sent to the workers when it is made, as before: a single owner has the whole
pool and nothing changes for it. When a second owner has work, a worker that claims a group of
an owner already at its share of the work in flight (``providers/fairshare.py``) gives the
group back held (``life.hold``: no call, no task, no lease), and the dispatcher
(:func:`dispatch`, run after each group a worker finishes and by the sweep) sends held groups of
the owners under their share (``life.unhold``) ahead of the bulk queue's backlog
(``queue.AHEAD``). A job started while another owner has work is sent ahead too
(``queue.shared_with_another``), so a backfill enqueued first no longer stands in front of
every later owner's job: the workers take the later job's tasks first, and the owners' work
then alternates. Interactive groups (small jobs from the web, on their own queue) are never
held, and a search's query passes the gate directly.

*In flight* is what reached a worker and is not held: claimed, or waiting for a retry, or sent
again for its turn (claimed at least once). A task still waiting in the queue's backlog, never
claimed, is *queued*: it makes its owner active but not busy. Counting it in flight (as before)
put an owner with a backlog over its share for as long as that backlog stood in the queue, so
every one of its tasks was claimed only to be held, ahead of the other owner's.

The share is of ``TOLLGATE_FAIR_SHARE_WINDOWS`` windows of the limit's tokens in flight
(``provider.fair_share_depth``), by weight (``TOLLGATE_OWNER_WEIGHTS``, by user name; 1 each).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import connection, transaction

from project.embeddings.groups import life
from project.embeddings.groups.queue import group_send, seconds_per_token
from project.embeddings.models import ACTIVE_STATUSES, EmbeddingGroup, EmbeddingJob
from project.provider import fair_share_depth, owner_weights, stall_seconds
from providers.fairshare import OwnerLoad, should_yield, to_send

__all__ = ["dispatch", "owner_loads", "waits_its_turn"]

PICK = 50  # held groups locked at a time per owner by one dispatch

LOADS_SQL = """
    SELECT j.owner_id, u.username,
        coalesce(sum(g.tokens) FILTER (WHERE NOT g.held AND (g.state = 'claimed' OR g.attempts > 0)), 0) AS in_flight,
        coalesce(sum(g.tokens) FILTER (WHERE g.held), 0) AS held,
        coalesce(sum(g.tokens) FILTER (WHERE NOT g.held AND g.state = 'pending' AND g.attempts = 0), 0) AS queued
    FROM {group} AS g JOIN {job} AS j ON j.id = g.job_id JOIN auth_user AS u ON u.id = j.owner_id
    WHERE g.state IN ('pending', 'claimed') AND g.lane = 'sync' AND NOT g.interactive AND j.status = ANY(%(active)s)
    GROUP BY j.owner_id, u.username
"""
HELD_SQL = """
    SELECT g.id, g.tokens FROM {group} AS g JOIN {job} AS j ON j.id = g.job_id
    WHERE g.held AND g.state = 'pending' AND j.owner_id = %(owner)s AND j.status = ANY(%(active)s)
    ORDER BY g.id LIMIT %(most)s FOR UPDATE OF g SKIP LOCKED
"""
_names = {"group": EmbeddingGroup._meta.db_table, "job": EmbeddingJob._meta.db_table}


def owner_loads() -> list[OwnerLoad]:
    """Every owner's (by id) sync-lane work of active jobs, in flight, held and queued, in tokens (one aggregate)."""
    weights = owner_weights()
    with connection.cursor() as cursor:
        cursor.execute(LOADS_SQL.format(**_names), {"active": [str(status) for status in ACTIVE_STATUSES]})
        rows = cursor.fetchall()
    return [
        OwnerLoad(owner, int(flying), int(held), weights.get(name, 1.0), queued=int(queued))
        for owner, name, flying, held, queued in rows
    ]


def waits_its_turn(group: EmbeddingGroup) -> bool:
    """Whether a claimed group goes back to wait for its owner's turn (then it is held, and the others sent).

    The owners' loads are read after the claim, so the group counts in its owner's work in
    flight (one aggregate a claim). A copy cached for a moment let every claim meanwhile pass
    uncounted: with an owner's tasks ahead of the queue, that owner went far over its share.
    """
    depth = fair_share_depth()
    if depth <= 0 or group.interactive:
        return False
    if not should_yield(owner_loads(), group.job.owner_id, tokens=group.tokens, depth=depth) or not life.hold(group):
        return False
    dispatch()
    return True


def dispatch() -> list[int]:
    """Send held groups of the owners under their share; returns their ids. One EXISTS when none is held."""
    if not EmbeddingGroup.objects.filter(held=True, state="pending").exists():
        return []
    depth = fair_share_depth()
    lease = life.database_now() + timedelta(seconds=stall_seconds() + _queue_seconds(depth))
    sent: list[int] = []
    with transaction.atomic():
        for owner, budget in to_send(owner_loads(), depth=depth).items():
            with connection.cursor() as cursor:
                params = {"owner": owner, "active": [str(s) for s in ACTIVE_STATUSES], "most": PICK}
                cursor.execute(HELD_SQL.format(**_names), params)
                rows = cursor.fetchall()
            chosen, tokens = [], 0
            for group_id, size in rows:
                if chosen and tokens >= budget:
                    break
                chosen.append(group_id)
                tokens += size
            sent += life.unhold(chosen, lease)
        # ahead of the queue's backlog: it is this owner's turn now, not after every task sent before
        transaction.on_commit(lambda: [group_send(group_id, interactive=False, ahead=True) for group_id in sent])
    return sent


def _queue_seconds(depth: int) -> float:
    """The queue's wait for a group sent now: the work in flight ahead of it at the limit's rate, with slack."""
    return max(depth, 0) * seconds_per_token()
