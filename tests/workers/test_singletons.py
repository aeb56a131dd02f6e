"""The singleton tasks (the index maintainer, the batch driver): one pending copy, and the driver only when needed.

Each runs under a PostgreSQL advisory lock; a copy that finds it held comes back shortly, since
what it was asked for may have come after the holder looked. Beat's ticks, full segments and
batch-lane commits each ask again: without a limit every request would become a copy retrying
every 2 s for as long as the holder runs (a long index build), flooding the queue. And beat
sends the batch driver only while the batch lane has work, not every poll of an idle system.
"""

from __future__ import annotations

import json
import time

from project.celery import BATCHES_DRIVE, INDEX_MAINTAIN, SWEEP
from project.celery import app as celery_app
from project.embeddings.batches.driver import DRIVER_LOCK
from project.embeddings.batches.work import batch_work_exists
from project.embeddings.index.builder import LOCK_KEY
from project.embeddings.ingest.documents import TextInput
from project.embeddings.jobs.submit import documents_submit
from project.embeddings.locks import advisory_lock
from project.launch import start_beat
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
            deadline = time.monotonic() + 20  # a loaded machine: until every request has run once
            while copies(name) > 1 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert copies(name) == 1, name  # each found the lock held; all but one ended
            time.sleep(2.5)  # the pending copy came back, and still found it held
            assert copies(name) == 1, name
        deadline = time.monotonic() + 15
        while copies(name) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert copies(name) == 0, f"{name}: the pending copy ran once the lock was free, and ended"


def beat_sent(name: str) -> int:
    """Messages of the task waiting in the broker (no worker runs in the test below: beat's sends stay)."""
    with celery_app.connection_for_read() as connection:
        client = connection.default_channel.client
        messages = [json.loads(raw)["headers"] for queue in ("bulk", "interactive") for raw in client.lrange(queue, 0, -1)]
    return sum(1 for headers in messages if headers["task"] == name)


def test_beat_sends_the_batch_driver_only_while_the_batch_lane_has_work(rig, django_user_model):
    rig.start(rpm=600, tpm=60_000, workers=0, TOLLGATE_BATCH_POLL_SECONDS=0.5, TOLLGATE_SWEEP_SECONDS=1)
    beat = start_beat(schedule=rig.log_dir / "celerybeat-schedule", log_dir=rig.log_dir)
    rig.stack.callback(beat.stop)
    deadline = time.monotonic() + 60
    while beat_sent(SWEEP) < 3 and time.monotonic() < deadline:  # beat is up and ticking: two seconds of it
        time.sleep(0.25)
    assert beat_sent(SWEEP) >= 3 and beat_sent(BATCHES_DRIVE) == 0  # four polls' time, no batch work

    owner = django_user_model.objects.create_user(username="batcher")
    documents_submit(texts=[("default", TextInput("A text for the batch lane."))], owner=owner, lane="batch")
    assert batch_work_exists()
    celery_app.control.purge()  # the commit's own request for the driver: beat's are the ones counted
    deadline = time.monotonic() + 10
    while not beat_sent(BATCHES_DRIVE) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert beat_sent(BATCHES_DRIVE) >= 1
