"""Celery beat's scheduler for tollgate: the persistent one, which skips the batch driver while it has nothing to do.

Beat polls the batch lane every ``TOLLGATE_BATCH_POLL_SECONDS`` (``tollgate up`` on the simulator:
every second). With no batch work that poll is a task doing nothing, each second, in Flower's
task list and the dashboard's tasks per second. So the poll is sent only while the batch lane has
work (``batches/work.py``); a batch-lane commit asks for the driver at once anyway. The entry
advances either way, so beat looks again one poll later.
"""

from __future__ import annotations

from celery.beat import PersistentScheduler, ScheduleEntry

from project.celery import BATCHES_DRIVE

__all__ = ["Scheduler"]


class Scheduler(PersistentScheduler):
    def apply_entry(self, entry: ScheduleEntry, producer=None) -> None:
        if entry.task == BATCHES_DRIVE and not _batch_work():
            return
        super().apply_entry(entry, producer=producer)


def _batch_work() -> bool:
    from project.embeddings.batches.work import batch_work_exists  # once beat runs: Django is set up by then

    return batch_work_exists()
