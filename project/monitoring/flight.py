"""Requests in flight per job: the groups a worker holds right now, read from the database.

A job's ``requests`` counter moves when a response has been stored; between the limiter's
admission and that moment the request is in flight, and the job would say "0 requests" while the
limit's gauge shows them admitted. A worker claims a group (``groups/life.py``) before it asks the
gate and keeps the claim through the call, so the claimed groups whose lease still runs are the
requests being sent (or waiting a moment at the gate to be): one per ``embed_group`` task that
Celery lists as active.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from django.db.models.functions import Now

from project.embeddings.models import EmbeddingGroup, GroupState, Lane

__all__ = ["requests_in_flight"]


def requests_in_flight(job_ids: Iterable[int]) -> dict[int, int]:
    """For each job id: its sync-lane groups claimed under a running lease (0 for the others)."""
    ids = list(job_ids)
    held = (
        EmbeddingGroup.objects.filter(job_id__in=ids, lane=Lane.SYNC, state=GroupState.CLAIMED, lease_until__gt=Now())
        .values("job_id")
        .annotate(n=Count("pk"))
    )
    counts = {row["job_id"]: row["n"] for row in held}
    return {job_id: counts.get(job_id, 0) for job_id in ids}
