"""Whether the batch lane has anything for its driver to do: beat polls only then.

The driver (``driver.drive``) forms batches from active jobs' batch-lane groups that no batch
carries yet, and moves every unfinished batch one step. With neither, a poll would be a task a
second doing nothing (``tollgate up`` polls the simulator every second), filling Flower's task
list and the dashboard's tasks per second, so beat skips it (``workers/__init__.py``).
"""

from __future__ import annotations

from django.db import DatabaseError

from project.embeddings.models import ACTIVE_STATUSES, UNFINISHED_BATCH_STATES, Batch, EmbeddingGroup, GroupState, Lane

__all__ = ["batch_work_exists"]


def batch_work_exists() -> bool:
    """An unfinished batch, or a pending batch-lane group of an active job that no batch carries yet.

    True too when the database cannot be read: the driver's own retries then report it.
    """
    try:
        if Batch.objects.filter(state__in=UNFINISHED_BATCH_STATES).exists():
            return True
        return EmbeddingGroup.objects.filter(
            lane=Lane.BATCH, state=GroupState.PENDING, batch__isnull=True, job__status__in=ACTIVE_STATUSES
        ).exists()
    except DatabaseError:
        return True
