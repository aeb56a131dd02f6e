"""Streaming ingest with real workers, Redis, PostgreSQL and the simulator.

A job embeds while its ingest runs: each batch's groups are sent as the batch commits, the job
cannot complete before its ingest has ended, and an ingest that fails midway, or whose process
dies, keeps what it committed (resumable, nothing embedded twice).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from project.embeddings.ingest import documents as ingest_module
from project.embeddings.ingest.streaming import job_ingest
from project.embeddings.jobs import ingesting as ingesting_module
from project.embeddings.jobs.lifecycle import job_create, job_resume
from project.embeddings.models import Chunk, Document, EmbeddingJob
from project.embeddings.plan.sweep import sweep_stalled
from project.errors import IngestStopped
from project.pipeline import watch_job
from tests.pipeline.helpers import texts
from tests.pipeline.test_pipeline import assert_each_chunk_embedded_once

Status = EmbeddingJob.Status


def wait_until_embedded_so_far(job_id: int, timeout: float = 30.0) -> EmbeddingJob:
    """The job once every chunk committed so far is embedded (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = EmbeddingJob.objects.get(pk=job_id)
        if job.total_chunks and job.embedded_chunks == job.total_chunks:
            return job
        time.sleep(0.05)
    return EmbeddingJob.objects.get(pk=job_id)


def test_embedding_starts_before_ingest_ends_and_the_job_completes_with_each_chunk_once(rig, monkeypatch):
    monkeypatch.setattr(ingest_module, "BATCH_DOCUMENTS", 50)
    # A job of more than two windows' tokens (~16,000 here): sent as its batches commit. (A shorter
    # one is planned whole once its ingest ends, so its groups fill the window evenly.)
    rig.start(rpm=200, tpm=5_000, window=1.0, workers=2)
    items = texts(300, prefix="stream-")
    job = job_create(documents=[], ingesting=True)
    during = {}

    def corpus():
        yield from items[:-1]
        # The ingest holds its last text back until the workers have embedded all it committed:
        # without streaming nothing would be sent yet, and this would wait in vain.
        during["job"] = wait_until_embedded_so_far(job.pk)
        yield items[-1]

    report = job_ingest(job=job, texts=corpus())
    job = watch_job(job.pk, progress=False)

    seen = during["job"]
    assert seen.embedded_chunks == seen.total_chunks == 250  # five batches of 50 committed and embedded
    assert seen.status == Status.RUNNING and seen.ingesting  # all it had was embedded, yet it did not complete
    assert report.created == 300
    assert job.status == Status.COMPLETED, job.last_error
    assert not job.ingesting and job.total_chunks == job.embedded_chunks == 300 and job.failed_chunks == 0
    assert_each_chunk_embedded_once(list(Document.objects.filter(source__startswith="stream-")))
    assert job.http_429 == 0


def test_an_ingest_error_midway_keeps_what_committed_and_nothing_is_lost(rig, monkeypatch):
    monkeypatch.setattr(ingest_module, "BATCH_DOCUMENTS", 40)
    rig.start(rpm=200, tpm=50_000, window=1.0, workers=2)
    items = texts(200, prefix="broken-")

    def corpus():
        yield from items[:100]
        raise OSError("the disk went away")

    job = job_create(documents=[], ingesting=True)
    with pytest.raises(IngestStopped) as stopped:
        job_ingest(job=job, texts=corpus())

    message = str(stopped.value)
    assert "\n" not in message and "ingest stopped after 80 documents: the disk went away" in message
    job.refresh_from_db()
    assert job.status == Status.FAILED and not job.ingesting and job.last_error.startswith("ingest stopped after 80")
    stored = Document.objects.filter(source__startswith="broken-")
    assert stored.count() == 80 and set(job.documents.all()) == set(stored)  # the third batch rolled back whole
    assert job.total_chunks == Chunk.objects.filter(document__in=stored).count() == 80

    job_resume(job_id=job.pk)  # tollgate resume JOB: what the failed job holds is embedded
    job = watch_job(job.pk, progress=False)
    assert job.status == Status.COMPLETED and job.embedded_chunks == 80
    assert_each_chunk_embedded_once(list(stored))

    again = job_create(documents=[], ingesting=True)  # the same command again, once the cause is fixed
    report = job_ingest(job=again, texts=items)
    again = watch_job(again.pk, progress=False)
    assert report.duplicates == 80 and report.created == 120
    assert again.status == Status.COMPLETED and again.total_chunks == again.embedded_chunks == 120
    assert_each_chunk_embedded_once(list(Document.objects.filter(source__startswith="broken-")))


CRASH = Path(__file__).with_name("ingest_crash.py")


def test_an_ingest_whose_process_dies_is_ended_by_the_sweep_and_a_live_one_is_not(rig, monkeypatch):
    """kill -9 mid-ingest: the job would wait for its ingest forever. The sweep sees the ingest's
    lock freed with its session, fails the job with a line saying how to go on, and resume
    embeds what committed, once. A live ingest holds its lock and is left alone."""
    monkeypatch.setattr(ingest_module, "BATCH_DOCUMENTS", 40)
    monkeypatch.setattr(ingesting_module, "INGEST_START_SECONDS", 0.0)  # the jobs here are seconds old
    rig.start(rpm=200, tpm=50_000, window=1.0, workers=2)

    live = job_create(documents=[], ingesting=True)
    release = threading.Event()

    def slow_corpus():
        yield from texts(50, prefix="alive-")
        release.wait(60)

    def ingest_in_a_thread() -> None:  # as tollgate run does, on the thread's own connection
        try:
            job_ingest(job=live, texts=slow_corpus())
        finally:
            connection.close()

    ingesting = threading.Thread(target=ingest_in_a_thread)
    ingesting.start()
    deadline = time.monotonic() + 30
    while EmbeddingJob.objects.get(pk=live.pk).total_chunks < 40 and time.monotonic() < deadline:
        time.sleep(0.05)  # its first batch committed: it is mid-ingest
    sweep_stalled()
    assert EmbeddingJob.objects.get(pk=live.pk).ingesting  # alive: left alone
    release.set()
    ingesting.join(60)
    assert watch_job(live.pk, progress=False).status == Status.COMPLETED

    job = job_create(documents=[], ingesting=True)
    crashed = subprocess.run([sys.executable, str(CRASH), str(job.pk)], env=os.environ.copy(), capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert crashed.returncode == 137, crashed.stdout + crashed.stderr
    job.refresh_from_db()
    assert job.ingesting and job.status in (Status.QUEUED, Status.RUNNING)  # what it would wait in forever

    sweep_stalled()
    job.refresh_from_db()
    assert not job.ingesting and job.status == Status.FAILED
    assert job.last_error == (
        f"ingest stopped after 80 documents: the process ingesting them is gone; `tollgate resume {job.pk}` embeds "
        "what was stored"
    )
    job_resume(job_id=job.pk)
    job = watch_job(job.pk, progress=False)
    stored = Document.objects.filter(source__startswith="killed-")
    assert job.status == Status.COMPLETED and job.embedded_chunks == stored.count() == 80
    assert_each_chunk_embedded_once(list(stored))
