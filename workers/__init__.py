"""Celery workers: the tasks and the beat schedule, thin over project services and the gate.

``uv run celery -A workers worker`` (or ``beat``, ``flower``) loads the app
(``project/celery.py``, Celery's Django recipe). The tasks in ``workers/tasks.py`` are
discovered once Django is set up, as the recipe does, since they use the models.
"""

from project.celery import BATCHES_DRIVE, INDEX_MAINTAIN, SWEEP, app
from project.provider import batch_poll_seconds, sweep_seconds

from . import (
    control,  # noqa: F401  (registers the tollgate_load remote-control command)
    sources,  # noqa: F401  (every worker follows the sources: a ticker thread)
    warmup,  # noqa: F401  (loads the tokenizer and the client before the first ping)
)

app.autodiscover_tasks(["workers"])
# The beat schedule, every TOLLGATE_SWEEP_SECONDS: the sweep re-enqueues what lost workers forgot,
# and the index maintainer builds what ended or interrupted backfills left unindexed; every
# TOLLGATE_BATCH_POLL_SECONDS the batch driver polls the batch lane's batches, only while it has
# work (workers/beat.py).
app.conf.beat_schedule = {
    "sweep": {"task": SWEEP, "schedule": sweep_seconds()},
    "index": {"task": INDEX_MAINTAIN, "schedule": sweep_seconds()},
    "batches": {"task": BATCHES_DRIVE, "schedule": batch_poll_seconds()},
}
app.conf.beat_scheduler = "workers.beat:Scheduler"

__all__ = ["app"]
