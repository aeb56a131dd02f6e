"""A person's cancel or pause wins over a resume or a sweep that read the job just before it.

A resume (or the sweep) reads the job, then plans it under the job's row lock. If a cancel or a
pause lands in between, the plan must see it and leave the job as the person left it: no status
back to running, no task sent.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from project.celery import app as celery_app
from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.jobs.lifecycle import job_cancel, job_create, job_pause, job_resume, job_start
from project.embeddings.models import EmbeddingGroup, EmbeddingJob, GroupState
from project.embeddings.plan.sweep import sweep_stalled

Status = EmbeddingJob.Status
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job(settings) -> EmbeddingJob:
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "test-key", "http://127.0.0.1:9/v1"  # never called
    documents = document_ingest(texts=[TextInput(f"Lifecycle text {i}.", source=f"l{i}") for i in range(6)]).documents
    job = job_create(documents=documents)
    job_start(job=job)
    celery_app.control.purge()
    return job


def _with_the_row_held(job_id: int, then: callable, meanwhile: callable) -> None:
    """Run ``then`` in a thread while this test holds the job's row, do ``meanwhile``, let go."""
    holder = connections.create_connection("default")
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {EmbeddingJob._meta.db_table} WHERE id = %s FOR UPDATE", [job_id])
    errors: list[BaseException] = []

    def run() -> None:
        try:
            then()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(1.0)  # it has read the job and now waits for the row
    with holder.cursor() as cursor:
        meanwhile(cursor)
    holder.commit()
    holder.close()
    thread.join(30)
    assert not errors, errors


def test_a_cancel_between_a_resumes_read_and_its_lock_stays_cancelled(job):
    job_pause(job_id=job.pk)
    table = EmbeddingJob._meta.db_table
    _with_the_row_held(
        job.pk,
        then=lambda: job_resume(job_id=job.pk),
        meanwhile=lambda cursor: cursor.execute(f"UPDATE {table} SET status = 'cancelled' WHERE id = %s", [job.pk]),
    )
    job.refresh_from_db()
    assert job.status == Status.CANCELLED


def test_a_pause_between_the_sweeps_read_and_its_lock_stays_paused(job):
    EmbeddingGroup.objects.filter(job=job).update(state=GroupState.DONE)  # an orphan: the sweep would re-plan it
    table = EmbeddingJob._meta.db_table
    _with_the_row_held(
        job.pk,
        then=sweep_stalled,
        meanwhile=lambda cursor: cursor.execute(f"UPDATE {table} SET status = 'paused' WHERE id = %s", [job.pk]),
    )
    job.refresh_from_db()
    assert job.status == Status.PAUSED
    assert not EmbeddingGroup.objects.filter(job=job, state=GroupState.PENDING).exists()


def test_cancel_then_resume_stays_cancelled(job):
    job_cancel(job_id=job.pk)
    job_resume(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == Status.CANCELLED
