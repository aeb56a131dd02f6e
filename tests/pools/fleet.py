"""A pool of simulators behind one pool file, and Celery worker processes that read it: what a team runs.

The pool file (``TOLLGATE_DEPLOYMENTS``) names each deployment's key variable; the variables are
set in the environment the workers inherit, and this process's settings are read from the same
file, so both sides agree on the deployments, their limits and the pool's sum.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from project.celery import app as celery_app
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import Document, EmbeddingJob
from project.launch import Simulator, WorkerPool, simulator_args, start_simulator, start_workers, wait_for_workers
from project.pipeline import watch_job
from project.pool_file import pool_settings, read_deployments


@dataclass(frozen=True)
class Spec:
    name: str
    rpm: int
    tpm: int
    window: float
    azure: bool = False


@dataclass
class Fleet:
    settings: Any
    monkeypatch: pytest.MonkeyPatch
    home: Path
    stack: ExitStack = field(default_factory=ExitStack)
    simulators: dict[str, Simulator] = field(default_factory=dict)
    pool: WorkerPool | None = None

    def configure(self, **values: Any) -> None:
        for name, value in values.items():
            setattr(self.settings, name, value)
            self.monkeypatch.setenv(name, str(value))

    def start(self, specs: list[Spec], *, workers: int = 3, latency_ms: float = 0.0, window: float = 1.0, **values: Any) -> None:
        """A simulator per deployment at its limits, the pool file naming them, and ``workers`` worker processes."""
        celery_app.control.purge()
        tables = []
        for spec in specs:
            args = [*simulator_args(rpm=spec.rpm, tpm=spec.tpm, window_seconds=spec.window), "--latency-ms", str(latency_ms)]
            simulator = self.stack.enter_context(start_simulator(*args))
            self.simulators[spec.name] = simulator
            variable = f"POOL_TEST_KEY_{spec.name.upper()}"
            self.monkeypatch.setenv(variable, f"sk-test-{spec.name}-{uuid.uuid4().hex[:8]}")
            azure = f'kind = "azure"\ndeployment = "{spec.name}"\napi_version = "2024-10-21"\n' if spec.azure else ""
            url = simulator.root_url if spec.azure else simulator.base_url
            tables.append(
                f'[[deployments]]\nname = "{spec.name}"\nbase_url = "{url}"\napi_key_env = "{variable}"\n{azure}'
                f'model = "text-embedding-3-small"\nrpm = {spec.rpm}\ntpm = {spec.tpm}\nwindow_seconds = {spec.window}\n'
            )
        path = self.home / "pool.toml"
        path.write_text("\n".join(tables))
        specs_read = read_deployments(path, environ=os.environ, dimensions=1536, window_seconds=window)
        model, dimensions, rpm, tpm = pool_settings(specs_read, model="", window_seconds=window)
        db = connection.settings_dict
        self.configure(
            TOLLGATE_DEPLOYMENTS=path, TOLLGATE_WINDOW_SECONDS=window, TOLLGATE_STALL_SECONDS=values.pop("stall", 4.0),
            DATABASE_URL=f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}", **values,
        )  # fmt: skip
        self.settings.TOLLGATE_POOL = specs_read
        self.settings.TOLLGATE_MODEL, self.settings.TOLLGATE_DIMENSIONS = model, dimensions
        self.settings.TOLLGATE_RPM, self.settings.TOLLGATE_TPM = rpm, tpm
        self.pool = start_workers(workers, concurrency=2, log_dir=self.home / "logs")
        self.stack.callback(self.pool.stop)
        wait_for_workers(celery_app, workers, pool=self.pool)

    def begin(self, documents: list[Document], **options: Any) -> EmbeddingJob:
        job = job_create(documents=documents, **options)
        job_start(job=job)
        return job

    def finish(self, job: EmbeddingJob) -> EmbeddingJob:
        return watch_job(job.pk, progress=False)

    def served(self) -> Counter[str]:
        """Times each distinct input was served (paid), over every simulator still alive."""
        total: Counter[str] = Counter()
        for simulator in self.simulators.values():
            if simulator.process.poll() is None:
                total.update(simulator.stats()["inputs"]["per_input"])
        return total

    def kill(self, name: str) -> None:
        """The deployment's server dies at once (SIGKILL): what it was sending is cut mid-request."""
        process = self.simulators[name].process
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        self.stack.close()
