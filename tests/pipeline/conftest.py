"""A rig of real parts for pipeline tests: the simulator, Celery worker processes, Redis, PostgreSQL.

Settings are changed in this process (``settings`` fixture) and in the environment the
worker subprocesses inherit, so both sides agree on the limits, the provider and the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from project.celery import app as celery_app
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import Document, Embedding, EmbeddingJob, vector_indexes
from project.launch import (
    Service,
    Simulator,
    WorkerPool,
    simulator_args,
    start_beat,
    start_simulator,
    start_workers,
    wait_for_workers,
)
from project.pipeline import watch_job


@dataclass
class Rig:
    settings: Any
    monkeypatch: pytest.MonkeyPatch
    log_dir: Path
    stack: ExitStack = field(default_factory=ExitStack)
    simulator: Simulator | None = None
    pool: WorkerPool | None = None
    beat: Service | None = None

    def configure(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self.settings, name, value)
            self.monkeypatch.setenv(name, str(value))

    def start(
        self,
        *,
        rpm: int,
        tpm: int,
        window: float = 1.0,
        workers: int = 4,
        concurrency: int = 1,
        extra_args: tuple[str, ...] = (),
        api_key: str = "test-key",
        beat: bool = False,
        **values: Any,
    ) -> None:
        """The simulator at these limits per ``window`` seconds, and ``workers`` worker processes.

        ``beat``: Celery beat too (the batch lane's driver runs on its schedule). ``workers=0``
        starts none yet (:meth:`start_workers` does, later).
        """
        celery_app.control.purge()  # nothing left over from an earlier test
        self.simulator = self.stack.enter_context(
            start_simulator(*simulator_args(rpm=rpm, tpm=tpm, window_seconds=window), *extra_args)
        )
        db = connection.settings_dict
        self.configure(
            OPENAI_BASE_URL=self.simulator.base_url,
            OPENAI_API_KEY=api_key,
            TOLLGATE_RPM=rpm,
            TOLLGATE_TPM=tpm,
            TOLLGATE_WINDOW_SECONDS=window,
            TOLLGATE_STALL_SECONDS=values.pop("TOLLGATE_STALL_SECONDS", 4.0),
            DATABASE_URL=f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            **values,
        )
        if workers:
            self.start_workers(workers, concurrency=concurrency, beat=beat)

    def start_workers(self, workers: int, *, concurrency: int = 1, beat: bool = False) -> None:
        self.pool = start_workers(workers, concurrency=concurrency, log_dir=self.log_dir)
        self.stack.callback(self.pool.stop)
        wait_for_workers(celery_app, workers, pool=self.pool)
        if beat:
            self.beat = start_beat(schedule=self.log_dir / "celerybeat-schedule", log_dir=self.log_dir)
            self.stack.callback(self.beat.stop)

    def embed(self, documents: list[Document], **job_options: Any) -> EmbeddingJob:
        """Create and start a job over ``documents`` and wait until it ends."""
        job = job_create(documents=documents, **job_options)
        job_start(job=job)
        return watch_job(job.pk, progress=False)

    def close(self) -> None:
        self.stack.close()


@pytest.fixture
def without_vector_index(transactional_db) -> Iterator[None]:
    """Drop the HNSW index while a test runs, put it back after.

    Each insert into it costs about 6 ms of CPU here (measured: 5.8 ms/row at 1536 dimensions,
    0.2 ms without), so on this 2-core machine the index, not the rate limit, would pace the
    tests. They test behaviour; tests/test_database.py tests the index.
    """
    indexes = vector_indexes()
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.remove_index(Embedding, index)
    yield
    with connection.schema_editor() as editor:
        for index in indexes:
            editor.add_index(Embedding, index)


@pytest.fixture
def rig(settings, monkeypatch, without_vector_index, tmp_path) -> Iterator[Rig]:
    rig = Rig(settings, monkeypatch, tmp_path / "logs")
    try:
        yield rig
    finally:
        rig.close()
