"""A worker killed (kill -9) in the middle of a source's backfill loses nothing and pays nothing twice.

One worker follows the source (the ``interactive`` queue, where the follow task goes) and dies
mid-drain; another embeds (``bulk``). The killed drain's step in flight rolls back, the steps
before it stay with their job, which the sweep fails and the next cycle resumes; a new
follower goes on from the backfill's committed cursor. Counted from the simulator's side.
"""

from __future__ import annotations

import time
from collections import Counter

from django.conf import settings

from project.celery import app as celery_app
from project.embeddings.ingest.documents import content_hash
from project.embeddings.models import SourceVersion
from project.embeddings.sources.registry import source_add
from project.embeddings.sources.status import source_status
from project.launch import start_workers, wait_for_workers

ROWS = 3_000


def follower(rig, name: str, **env: str):
    env = {"TOLLGATE_SOURCES_POLL_SECONDS": "0.1", **env}
    pool = start_workers(1, queues="interactive", env=env, log_dir=rig.log_dir / name, name=name)
    rig.stack.callback(pool.stop)
    return pool


def test_a_follower_killed_mid_backfill_loses_nothing_and_pays_nothing_twice(rig, table):
    table.sql(
        "INSERT INTO {t} (title, body) SELECT 'Row ' || i, 'Kept embedded across a crash, text ' || i "
        "FROM generate_series(1, %s) i",
        [ROWS],
    )
    rig.start(rpm=600, tpm=400_000, window=1.0, workers=0, TOLLGATE_SOURCES_POLL_SECONDS=0)
    embedder = start_workers(1, queues="bulk", log_dir=rig.log_dir / "embedder", name="embedder")
    rig.stack.callback(embedder.stop)
    doomed = follower(rig, "doomed")
    wait_for_workers(celery_app, 2)
    source = source_add(name="articles", table=table.name, text_columns=["title", "body"])
    version = SourceVersion.objects.get(source=source)

    deadline = time.monotonic() + 60
    while True:  # a batch of the backfill committed, and more to read: kill it mid-drain
        version.refresh_from_db()
        if version.backfill_after is not None:
            break
        assert time.monotonic() < deadline, "the follower never drained"
        time.sleep(0.01)
    doomed.processes[0].kill()
    doomed.processes[0].wait()
    version.refresh_from_db()
    assert version.backfilled_at is None, "the backfill ended before the kill: make ROWS larger"

    follower(rig, "next")
    deadline = time.monotonic() + 120
    while (status := source_status(source)).embedded < ROWS or status.pending:
        assert time.monotonic() < deadline, status
        time.sleep(0.5)

    served = Counter(rig.simulator.stats()["inputs"]["per_input"])
    texts = [f"Row {i}\n\nKept embedded across a crash, text {i}" for i in range(1, ROWS + 1)]
    assert served == Counter({content_hash(text): 1 for text in texts})  # every row once, none twice
    assert settings.TOLLGATE_SOURCES_POLL_SECONDS == 0  # this process drained nothing itself
