"""The singleton tasks (the index maintainer, the batch driver) keep one pending copy while another runs.

Each runs under a PostgreSQL advisory lock; a copy that finds it held comes back shortly, since
what it was asked for may have come after the holder looked. Beat's ticks, full segments and
batch-lane commits each ask again: without a limit every request would become a copy retrying
every 2 s for as long as the holder runs (a long index build), flooding the queue.
"""

from __future__ import annotations

import json
import time

from project.celery import BATCHES_DRIVE, INDEX_MAINTAIN
from project.celery import app as celery_app
from project.embeddings.batches.driver import DRIVER_LOCK
from project.embeddings.index.builder import LOCK_KEY
from project.embeddings.locks import advisory_lock
from tests.pipeline import conftest as pipeline

REQUESTS = 6  # beat ticks, full segments, commits: each sends one
rig, without_vector_index = pipeline.rig, pipeline.without_vector_index  # the pipeline's fixtures, by name


def copies(name: str) -> int:
    """Copies of the task (by id) the worker holds, waiting for their retry's time or running, or the broker queues.

    A retry is a new message with the same id, published while the run that sent it ends: one copy.
    """
    inspect = celery_app.control.inspect(timeout=2.0, limit=1)  # the rig's one worker
    held = [entry["request"] for entries in (inspect.scheduled() or {}).values() for entry in entries]
    held += [task for tasks in (inspect.active() or {}).values() for task in tasks]
    held += [task for tasks in (inspect.reserved() or {}).values() for task in tasks]
    ids = {task["id"] for task in held if task["name"] == name}
    with celery_app.connection_for_read() as connection:
        client = connection.default_channel.client
        for queue in ("bulk", "interactive"):
            messages = [json.loads(raw)["headers"] for raw in client.lrange(queue, 0, -1)]
            ids |= {headers["id"] for headers in messages if headers["task"] == name}
    return len(ids)


def test_a_busy_singleton_task_keeps_one_pending_copy_and_runs_it_once_free(rig):
    rig.start(rpm=600, tpm=60_000, workers=1, concurrency=2)
    for name, lock in ((INDEX_MAINTAIN, LOCK_KEY), (BATCHES_DRIVE, DRIVER_LOCK)):
        with advisory_lock(lock) as held:  # another maintainer (driver) runs: a long index build
            assert held
            for _ in range(REQUESTS):
                celery_app.send_task(name, queue="interactive")
            time.sleep(1.5)  # every request has run once and found the lock held
            assert copies(name) == 1, name
            time.sleep(2.5)  # the pending copy came back, and still found it held
            assert copies(name) == 1, name
        deadline = time.monotonic() + 15
        while copies(name) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert copies(name) == 0, f"{name}: the pending copy ran once the lock was free, and ended"
