"""Never pay twice: each distinct input is served once per model, whatever duplicates, resumes,
pauses, cancels, queues, retried POSTs or Redis failures happen.

Real workers, Redis, PostgreSQL and the simulator over HTTP; the simulator counts what it
served for each distinct input (the sha256 of its text, which is the chunk's ``content_hash``)
and what it billed, so "paid once" is read from the server's side.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import connection

from project.embeddings.groups.life import claim
from project.embeddings.groups.sweep import groups_sweep
from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.jobs.lifecycle import job_cancel, job_create, job_pause, job_resume, job_start
from project.embeddings.models import Chunk, Document, Embedding, EmbeddingGroup, EmbeddingJob, FailedChunk
from project.pipeline import watch_job
from tests.pipeline.helpers import ingest, texts

COMPLETED, PAUSED = EmbeddingJob.Status.COMPLETED, EmbeddingJob.Status.PAUSED
P1 = "The gate holds the road to what it can carry and no more than that, every hour of the day."
P2 = "Workers share one limit in Redis, and the database is the truth about what was stored."
P3 = "A chunk that was embedded once is never sent again: its vector is copied where it is needed."


def served(rig) -> Counter[str]:
    """How many times the simulator served each distinct input (billed it), by the sha256 of its text."""
    return Counter(rig.simulator.stats()["inputs"]["per_input"])


def distinct_hashes(documents: list[Document]) -> set[str]:
    return set(Chunk.objects.filter(document__in=documents).values_list("content_hash", flat=True))


def assert_every_chunk_has_one_vector(documents: list[Document]) -> None:
    chunks = Chunk.objects.filter(document__in=documents)
    assert Embedding.objects.filter(chunk__in=chunks).count() == chunks.count() > 0
    assert Embedding.objects.filter(chunk__in=chunks).values("chunk").distinct().count() == chunks.count()


def wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_duplicates_within_a_document_across_documents_and_collections_are_served_once(rig):
    rig.start(rpm=100, tpm=50_000, window=1.0, workers=2)
    repeated = TextInput("\n\n".join([P1, P2, P1, P1, P2]), source="repeated.txt")  # the same paragraphs again
    overlapping = TextInput("\n\n".join([P3, P1]), source="overlapping.txt")  # shares P1 with the first
    first = document_ingest(texts=[repeated, overlapping], collection="a", chunk_size=25, chunk_overlap=0).documents
    chunks = Chunk.objects.filter(document__in=first).count()
    distinct = distinct_hashes(first)
    assert len(distinct) < chunks  # the corpus does hold duplicate chunks

    job = rig.embed(first)

    assert job.status == COMPLETED, job.last_error
    assert served(rig) == Counter({digest: 1 for digest in distinct})  # each distinct input once, nothing else
    assert job.reused_chunks == chunks - len(distinct) and job.embedded_chunks == chunks
    assert job.embedded_tokens == rig.simulator.stats()["usage_tokens"]  # paid = what the server billed
    assert_every_chunk_has_one_vector(first)

    # The same texts in another collection: new documents and chunks, no call at all.
    again = document_ingest(texts=[repeated, overlapping], collection="b", chunk_size=25, chunk_overlap=0).documents
    requests = rig.simulator.stats()["requests"]
    second = rig.embed(again)
    assert second.status == COMPLETED and second.requests == 0 and rig.simulator.stats()["requests"] == requests
    assert second.reused_chunks == second.total_chunks == chunks and second.embedded_tokens == 0
    assert_every_chunk_has_one_vector(again)
    vectors = dict(Embedding.objects.filter(chunk__document__in=first).values_list("chunk__content_hash", "vector"))
    for digest, vector in Embedding.objects.filter(chunk__document__in=again).values_list("chunk__content_hash", "vector"):
        assert list(vector) == list(vectors[digest])  # the very vector the first job paid for

    # Another owner pays for its own copy: reuse never crosses owners.
    other = get_user_model().objects.create_user(username="grace")
    theirs = document_ingest(texts=[repeated], collection="a", chunk_size=25, chunk_overlap=0, owner=other).documents
    third = rig.embed(theirs, owner=other)
    assert third.status == COMPLETED and third.reused_chunks == third.total_chunks - len(distinct_hashes(theirs))
    assert all(served(rig)[digest] == 2 for digest in distinct_hashes(theirs))


def test_a_job_queued_behind_another_longer_than_the_stall_time_pays_nothing_twice(rig):
    # One worker and one lane: the second job's tasks wait behind all of the first's, for
    # several stall times and longer than a claim's lease (1 s timeout + 6 s of gate waits + 1 s).
    rig.start(rpm=60, tpm=2_000, window=1.0, workers=1, concurrency=2, TOLLGATE_STALL_SECONDS=1.0,
              TOLLGATE_REQUEST_TIMEOUT=1.0, TOLLGATE_INTERACTIVE_MAX_TOKENS=0, TOLLGATE_GROUP_TOKENS=400)  # fmt: skip
    ahead = job_create(documents=ingest(300, words=30, prefix="ahead "))
    behind = job_create(documents=ingest(100, words=30, prefix="behind "))
    job_start(job=ahead)
    job_start(job=behind)
    started, swept = time.monotonic(), []

    while EmbeddingJob.objects.filter(pk__in=[ahead.pk, behind.pk], status__in=["queued", "running"]).exists():
        swept += groups_sweep()  # as beat and `tollgate run` do, many times per stall time
        assert time.monotonic() - started < 90
        time.sleep(0.1)

    ahead.refresh_from_db()
    behind.refresh_from_db()
    assert time.monotonic() - started > 5  # the second job waited for several stall times
    assert ahead.status == behind.status == COMPLETED, (ahead.last_error, behind.last_error)
    assert swept == []  # no group of a job merely waiting was enqueued again
    counts = served(rig)
    assert set(counts.values()) == {1} and len(counts) == 400


def test_concurrent_resumes_pause_resume_and_cancel_pay_nothing_twice(rig):
    rig.start(rpm=60, tpm=3_000, window=1.0, workers=2, concurrency=2, TOLLGATE_GROUP_TOKENS=300)
    documents = ingest(240, words=30)
    job = job_create(documents=documents)
    job_start(job=job)
    wait_until(lambda: EmbeddingJob.objects.get(pk=job.pk).embedded_chunks >= 30)
    job_pause(job_id=job.pk)
    time.sleep(0.5)  # its queued tasks meet a paused job and do nothing
    job_resume(job_id=job.pk)  # the old tasks of the pending groups are still queued: now sent twice
    job_pause(job_id=job.pk)
    resumes = [threading.Thread(target=_resume_in_thread, args=(job.pk,)) for _ in range(2)]
    for thread in resumes:
        thread.start()
    for thread in resumes:
        thread.join()

    job = watch_job(job.pk, progress=False)

    assert job.status == COMPLETED, job.last_error
    counts = served(rig)
    assert set(counts.values()) == {1} and len(counts) == 240
    assert_every_chunk_has_one_vector(documents)
    assert job.embedded_chunks == job.total_chunks == 240

    # Cancel mid-run: nothing more is sent for it; a new job over the same documents pays only the rest.
    more = ingest(120, words=30, prefix="more ")
    cancelled = job_create(documents=more)
    job_start(job=cancelled)
    wait_until(lambda: EmbeddingJob.objects.get(pk=cancelled.pk).embedded_chunks >= 20)
    job_cancel(job_id=cancelled.pk)
    time.sleep(1.0)  # in-flight requests land and are stored
    requests = rig.simulator.stats()["requests"]
    time.sleep(1.0)
    assert rig.simulator.stats()["requests"] == requests  # a cancelled job calls nothing
    rest = watch_job(job_start_new(more).pk, progress=False)
    assert rest.status == COMPLETED, rest.last_error
    counts = served(rig)
    assert set(counts.values()) == {1} and len(counts) == 360
    assert_every_chunk_has_one_vector(more)


def _resume_in_thread(job_id: int) -> None:
    try:
        job_resume(job_id=job_id)
    finally:
        connection.close()


def job_start_new(documents: list[Document]) -> EmbeddingJob:
    job = job_create(documents=documents)
    job_start(job=job)
    return job


def test_a_retried_post_with_the_same_idempotency_key_returns_the_same_job(rig):
    from rest_framework.test import APIClient

    rig.start(rpm=100, tpm=50_000, window=1.0, workers=1)
    user = get_user_model().objects.create_user(username="retrier")
    client = APIClient()
    client.force_authenticate(user)
    body = [{"text": text.text, "source": text.source} for text in texts(40, prefix="posted ")]

    first = client.post("/api/documents", body, format="json", HTTP_IDEMPOTENCY_KEY="upload-7")
    second = client.post("/api/documents", body, format="json", HTTP_IDEMPOTENCY_KEY="upload-7")
    other = client.post("/api/documents", body[:5], format="json", HTTP_IDEMPOTENCY_KEY="upload-8")

    assert first.status_code == 202, first.content
    assert second.status_code == 200 and second.headers["Idempotent-Replayed"] == "true"
    assert second.json()["job"] == first.json()["job"] != other.json()["job"]
    assert EmbeddingJob.objects.filter(owner=user).count() == 2
    job = watch_job(first.json()["job"], progress=False)
    assert job.status == COMPLETED, job.last_error
    wait_until(lambda: EmbeddingJob.objects.get(pk=other.json()["job"]).status == COMPLETED)
    counts = served(rig)
    assert set(counts.values()) == {1} and len(counts) == 40


def test_a_redis_error_right_after_a_paid_call_stores_it_once_and_pays_nothing_again(rig, redis_url):
    # The limiter's own Redis user: taking its rights away between the call and the bookkeeping
    # fails reconcile/observe (NOPERM), while the broker (the default user) keeps working.
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("ACL", "SETUSER", "limiter", "on", ">limiter-pass", "~*", "&*", "+@all")
    limiter_url = "redis://limiter:limiter-pass@" + redis_url.removeprefix("redis://").split("@")[-1]
    try:
        rig.start(rpm=100, tpm=50_000, window=1.0, workers=1, REDIS_URL=limiter_url, CELERY_BROKER_URL=redis_url)
        rig.simulator.configure(latency_ms=1500)
        documents = ingest(5, prefix="paid once ")
        job = job_create(documents=documents)
        job_start(job=job)
        wait_until(lambda: rig.simulator.stats()["requests"] >= 1)  # admitted and sent: now in flight
        admin.execute_command("ACL", "SETUSER", "limiter", "-@all")
        wait_until(lambda: Embedding.objects.filter(chunk__document__in=documents).count() == 5, timeout=20)
        time.sleep(1.5)  # a task that retried the call would be calling now
        admin.execute_command("ACL", "SETUSER", "limiter", "+@all")
        job = watch_job(job.pk, progress=False)
    finally:
        admin.execute_command("ACL", "DELUSER", "limiter")
        admin.close()

    assert job.status == COMPLETED, job.last_error
    stats = rig.simulator.stats()
    assert stats["requests"] == stats["successes"] == 1
    assert set(served(rig).values()) == {1} and len(served(rig)) == 5
    assert_every_chunk_has_one_vector(documents)


def test_a_provider_answering_fewer_vectors_fails_those_chunks_once_with_the_reason(rig):
    rig.start(rpm=100, tpm=50_000, window=1.0, workers=1, TOLLGATE_GROUP_TOKENS=500)
    rig.simulator.configure(fewer_vectors=1)
    documents = ingest(60)

    job = rig.embed(documents)

    assert job.status == COMPLETED, job.last_error
    groups = EmbeddingGroup.objects.filter(job=job).count()
    assert job.failed_chunks == groups and job.embedded_chunks == 60 - groups
    reasons = set(FailedChunk.objects.filter(job=job).values_list("reason", flat=True))
    assert len(reasons) >= 1 and all("vectors for" in reason and "inputs" in reason for reason in reasons)
    assert set(served(rig).values()) == {1} and rig.simulator.stats()["requests"] == groups  # no loop


def test_a_group_that_keeps_losing_its_worker_pauses_its_job_with_the_reason(transactional_db, settings):
    """The sweep's side of a poison group: each claim's holder dies (nobody finishes), N expiries pause the job."""
    from project.celery import app as celery_app

    settings.TOLLGATE_LEASE_SECONDS = 0.2
    settings.TOLLGATE_LEASE_EXPIRATIONS = 3
    settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = "poison-key", "http://127.0.0.1:9/v1"
    job = job_create(documents=ingest(3, prefix="poison "))
    job_start(job=job)
    group = EmbeddingGroup.objects.get(job=job)
    sweeps = 0
    try:
        while EmbeddingJob.objects.get(pk=job.pk).status != PAUSED:
            assert claim(group.pk) is not None  # a worker takes it … and dies with it
            assert claim(group.pk) is None  # meanwhile nobody else may
            time.sleep(0.3)
            groups_sweep(job_id=job.pk)
            sweeps += 1
            assert sweeps <= 3
    finally:
        celery_app.control.purge()  # the swept groups' tasks: no worker here
    job.refresh_from_db()
    assert sweeps == 3 and "lost its worker 3 times" in job.last_error


@pytest.mark.parametrize("where", ["service", "cli"])
def test_dimensions_unlike_the_vector_column_are_one_clear_error_and_no_call(where, transactional_db, tmp_path):
    import os
    import subprocess
    import sys

    from project.errors import DimensionsMismatch
    from project.launch import start_simulator

    with start_simulator("--rpm", "100", "--tpm", "50000") as simulator:
        if where == "service":
            job = job_create(documents=ingest(3, prefix="dims "), dimensions=256)
            with pytest.raises(DimensionsMismatch, match="holds 1536"):
                job_start(job=job)
            assert not EmbeddingGroup.objects.filter(job=job).exists()
        else:
            subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], check=True, timeout=120)  # at 1536
            (tmp_path / "a.txt").write_text("Some text to embed. " * 20)
            environment = {**os.environ, "TOLLGATE_DIMENSIONS": "256", "OPENAI_BASE_URL": simulator.base_url,
                           "OPENAI_API_KEY": "k"}  # fmt: skip
            result = subprocess.run([sys.executable, "-m", "project.cli", "run", str(tmp_path), "--workers", "1"],
                                    env=environment, capture_output=True, text=True, timeout=120)  # fmt: skip
            assert result.returncode == 2, result.stderr[-2000:]
            assert result.stderr.strip().splitlines()[-1].startswith("tollgate: the job asks for 256-dimension")
            assert "Traceback" not in result.stderr
        assert simulator.stats()["requests"] == 0
