"""One group's life in this process, against real parts: PostgreSQL, Redis and the simulator over HTTP.

``embed_group_once`` is what a Celery worker runs for a task; here a test calls it directly
(as a worker would, with a holder's task id) and reads the outcome from the database and from
what the simulator served, so each branch of a group's life can be set up exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection

from project.celery import app as celery_app
from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.jobs import tally
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import EmbeddingGroup, EmbeddingJob
from project.launch import Simulator, simulator_args, start_simulator

WINDOW = 60.0  # seconds: the limits below are never what a test waits for


@dataclass
class Provider:
    simulator: Simulator
    settings: Any

    def served(self) -> dict[str, int]:
        """Times the simulator served (billed) each distinct input, by the sha256 of its text."""
        return self.simulator.stats()["inputs"]["per_input"]

    def job(self, texts: list[str], **options: Any) -> tuple[EmbeddingJob, list[EmbeddingGroup]]:
        """A started job over ``texts`` (one chunk each), and its groups, oldest first."""
        documents = document_ingest(texts=[TextInput(t, source=f"t{i}") for i, t in enumerate(texts)]).documents
        job = job_create(documents=documents, **options)
        job_start(job=job)
        celery_app.control.purge()  # the tasks job_start sent: these tests run the groups themselves
        return job, list(EmbeddingGroup.objects.filter(job=job).order_by("pk"))


@pytest.fixture
def provider(settings, transactional_db, monkeypatch) -> Iterator[Provider]:
    """The simulator at generous limits, and this process's settings pointed at it."""
    with start_simulator(*simulator_args(rpm=1000, tpm=1_000_000, window_seconds=WINDOW)) as simulator:
        settings.OPENAI_BASE_URL = simulator.base_url
        settings.OPENAI_API_KEY = "test-key"
        settings.TOLLGATE_RPM, settings.TOLLGATE_TPM, settings.TOLLGATE_WINDOW_SECONDS = 1000, 1_000_000, WINDOW
        settings.TOLLGATE_STALL_SECONDS = 4.0
        settings.TOLLGATE_BULK_MIN_CHUNKS = 10**9  # live index only
        settings.TOLLGATE_INTERACTIVE_MAX_TOKENS = 0
        yield Provider(simulator, settings)


def counted(job: EmbeddingJob) -> EmbeddingJob:
    """The job as its row says once every tally is folded into it (``jobs/tally.py``)."""
    tally.fold(job.pk)
    job.refresh_from_db()
    return job


def expire(group: EmbeddingGroup) -> None:
    """Make the group's lease run out now (as if its holder stalled past it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {EmbeddingGroup._meta.db_table} SET lease_until = now() - interval '1 second' WHERE id = %s",
            [group.pk],
        )
