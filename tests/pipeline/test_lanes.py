"""The interactive lane: a small job posted while a backfill saturates the limit is not starved."""

from __future__ import annotations

import time

from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import EmbeddingJob
from project.pipeline import watch_job
from tests.pipeline.helpers import ingest

WINDOW = 5.0  # long enough that a starved request would visibly wait for the window to slide


def test_a_small_job_finishes_while_a_backfill_holds_the_limit(rig):
    backfill_documents = ingest(1500, words=30)
    small_documents = ingest(3, words=20, prefix="urgent ")
    rig.start(rpm=300, tpm=20_000, window=WINDOW, workers=2, concurrency=2, TOLLGATE_GROUP_TOKENS=1_000,
              TOLLGATE_BULK_RESERVE=0.1)  # fmt: skip
    backfill = job_create(documents=backfill_documents)
    job_start(job=backfill)
    deadline = time.monotonic() + 30
    while EmbeddingJob.objects.get(pk=backfill.pk).limiter_waits < 20 and time.monotonic() < deadline:
        time.sleep(0.1)  # until the backfill holds the limit and its tasks queue up for it

    started = time.monotonic()
    small = job_create(documents=small_documents)
    job_start(job=small)
    small = watch_job(small.pk, progress=False)
    waited = time.monotonic() - started

    assert small.status == EmbeddingJob.Status.COMPLETED and small.embedded_chunks == 3
    backfill.refresh_from_db()
    assert backfill.status == EmbeddingJob.Status.RUNNING  # it was still going
    assert waited < WINDOW / 2, waited
    EmbeddingJob.objects.filter(pk=backfill.pk).update(status=EmbeddingJob.Status.CANCELLED)


def test_small_jobs_take_the_interactive_queue_and_backfills_the_bulk_queue(transactional_db, settings, redis_url):
    import redis

    from project.celery import app as celery_app

    settings.OPENAI_BASE_URL, settings.TOLLGATE_INTERACTIVE_MAX_TOKENS = "http://127.0.0.1:9/v1", 1_000
    celery_app.control.purge()
    with redis.Redis.from_url(redis_url) as broker:  # no worker runs: the messages stay in the queues
        job_start(job=job_create(documents=ingest(3, words=20, prefix="small ")))
        assert (broker.llen("interactive"), broker.llen("bulk")) == (1, 0)
        job_start(job=job_create(documents=ingest(100, words=30, prefix="large ")))
        behind = "bulk\x06\x169"  # kombu's list for the bulk queue's priority 9 (groups/queue.py: BEHIND)
        assert broker.llen("interactive") == 1 and broker.llen(behind) >= 1 and broker.llen("bulk") == 0
    celery_app.control.purge()
