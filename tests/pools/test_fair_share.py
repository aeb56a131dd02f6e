"""Fair share between two owners on one pool: a small job of one is not made to wait behind another's backfill.

Real Celery workers, two simulators as one pool, two owners. Owner A's backfill is sent first
(every group a task in the queue before B's); B's one window of tokens then finishes in about
the time it takes at its half of the pool, long before A's backlog, and A keeps the rest. B's
tasks are sent ahead of A's backlog (the bulk queue's AHEAD place), and A's tasks still in the
backlog are queued, not in flight: shown first without workers, from the broker's lists.
"""

from __future__ import annotations

import time

import redis
from django.contrib.auth import get_user_model

from project.celery import app as celery_app
from project.embeddings.groups.fairshare import owner_loads
from project.embeddings.ingest.documents import document_ingest
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import EmbeddingGroup, EmbeddingJob
from tests.pipeline.helpers import texts
from tests.pools.fleet import Spec

COMPLETED = EmbeddingJob.Status.COMPLETED
WINDOW = 2.0  # seconds
POOL = [Spec("a", rpm=600, tpm=10_000, window=WINDOW), Spec("b", rpm=600, tpm=10_000, window=WINDOW)]
WINDOW_TOKENS = 20_000  # the pool's sum per window
AHEAD, BEHIND = "bulk", "bulk\x06\x169"  # kombu's Redis lists for the bulk queue's priorities 0 and 9


def owned(name: str, count: int):
    owner = get_user_model().objects.create_user(name)
    documents = document_ingest(texts=texts(count, words=200, prefix=f"{name} "), owner=owner).documents
    return owner, documents


def test_a_later_owners_job_is_sent_ahead_of_a_backlog_that_is_queued_not_in_flight(transactional_db, settings, redis_url):
    settings.OPENAI_BASE_URL, settings.TOLLGATE_INTERACTIVE_MAX_TOKENS = "http://127.0.0.1:9/v1", 1_000
    celery_app.control.purge()
    (alice, backfill), (bob, small), (carol, other) = owned("alice", 60), owned("bob", 10), owned("carol", 10)
    with redis.Redis.from_url(redis_url) as broker:  # no worker runs: the messages stay in the queues
        big = job_create(documents=backfill, owner=alice)
        job_start(job=big)
        alone = EmbeddingGroup.objects.filter(job=big).count()
        assert (broker.llen(AHEAD), broker.llen(BEHIND)) == (0, alone)  # alone: first come, first served
        loads = {load.owner: load for load in owner_loads()}
        assert (loads[alice.pk].in_flight, loads[alice.pk].queued) == (0, EmbeddingJob.objects.get(pk=big.pk).total_tokens)

        job = job_create(documents=small, owner=bob)
        job_start(job=job)
        assert (broker.llen(AHEAD), broker.llen(BEHIND)) == (EmbeddingGroup.objects.filter(job=job).count(), alone)

        settings.TOLLGATE_FAIR_SHARE_WINDOWS = 0  # off: every job in the order it was sent
        job_start(job=job_create(documents=other, owner=carol))
        assert broker.llen(BEHIND) > alone
    celery_app.control.purge()


def test_a_small_job_of_one_owner_finishes_at_its_share_while_another_owners_backfill_runs(fleet):
    fleet.start(POOL, workers=3, window=WINDOW, latency_ms=20)
    alice, backfill = owned("alice", 620)  # about 6.4 windows of the pool's tokens
    bob, small = owned("bob", 97)  # about one window's
    big = fleet.begin(backfill, owner=alice)
    deadline = time.monotonic() + 30
    while EmbeddingJob.objects.get(pk=big.pk).embedded_chunks < 100:  # the backfill holds the pool
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert EmbeddingGroup.objects.filter(job=big, state="pending").count() > 30  # its tasks fill the queue ahead
    at_start = EmbeddingJob.objects.get(pk=big.pk)
    ahead = at_start.total_tokens - at_start.embedded_tokens  # first come, first served: bob waits for all of it

    started = time.monotonic()
    job = fleet.finish(fleet.begin(small, owner=bob))
    took = time.monotonic() - started
    left = EmbeddingJob.objects.get(pk=big.pk)

    assert job.status == COMPLETED, job.last_error
    assert job.total_tokens >= 0.9 * WINDOW_TOKENS
    # its window at half the pool is two windows (the goal: 2.5); at most 3.5 on a loaded machine ...
    assert took <= 3.5 * WINDOW, f"bob's window of tokens took {took:.1f} s"
    # ... while the backfill's work queued ahead of it held more than that
    assert ahead > 4 * WINDOW_TOKENS
    assert left.embedded_tokens > at_start.embedded_tokens and left.status == EmbeddingJob.Status.RUNNING

    big = fleet.finish(big)
    assert big.status == COMPLETED and big.embedded_chunks == big.total_chunks  # held, never lost
    assert not EmbeddingGroup.objects.filter(held=True).exists()
    for spec in POOL:
        stats = fleet.simulators[spec.name].stats(per_input=False)
        assert sum(stats["rate_limited"].values()) == 0 and stats["max_tokens_in_window"] <= spec.tpm
