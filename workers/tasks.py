"""Celery tasks: thin wrappers that turn an :class:`~workers.embedding.Outcome` into Celery's idioms."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from project.celery import BATCH_STORE, BATCHES_DRIVE, EMBED_GROUP, INDEX_MAINTAIN, SOURCES_FOLLOW, SWEEP, app
from project.embeddings import pending
from project.embeddings.batches import driver, results
from project.embeddings.index import builder
from project.embeddings.plan.sweep import sweep_stalled
from project.embeddings.sources.follow import sources_follow
from project.embeddings.sources.wake import follow_started
from project.embeddings.store.write import DATABASE_UNAVAILABLE
from project.embeddings.groups.queue import AHEAD
from project.provider import max_countdown, stall_seconds
from ratelimit import LimiterUnavailable

from .embedding import embed_group_once

MAINTAIN_RETRY_SECONDS = 2.0


@app.task(
    bind=True,
    name=EMBED_GROUP,
    max_retries=None,
    acks_late=True,
    reject_on_worker_lost=True,
    # PostgreSQL or Redis gone for a moment (a restart): try again, backing off up to a minute.
    autoretry_for=(*DATABASE_UNAVAILABLE, LimiterUnavailable),
    retry_backoff=True,
    retry_backoff_max=60,
)
def embed_group(self, group_id: int, attempt: int = 0) -> None:
    """Embed one group (a row, claimed before any call) under the shared limit.

    A wait of under a second for the limiter is slept in place (the gate, providers/gate.py); a
    longer one, and a 429, retry with the same ``attempt``. Only real failures (5xx, timeouts)
    advance it, so waits never use up the retries those failures need. The group's lease
    covers the wait, so the sweep leaves it alone meanwhile.
    """
    outcome = embed_group_once(group_id, attempt=attempt, holder=self.request.id or "")
    if outcome.retry_in is not None:
        wait = min(outcome.retry_in, max_countdown())  # stays below the broker's visibility timeout
        # An absolute time on Redis's clock, the one every host shares, not on this host's.
        eta = datetime.now(timezone.utc) + timedelta(seconds=outcome.clock_offset + wait)
        # AHEAD of the bulk queue's backlog: the group is in flight (its owner's share counts it)
        raise self.retry(args=(group_id, outcome.next_attempt), eta=eta, max_retries=None, priority=AHEAD)


@app.task(name=SWEEP, ignore_result=True)
def sweep() -> list[int]:
    """Run by Celery beat: the database is the truth, so what it says is pending gets enqueued again."""
    return sweep_stalled(stall_seconds())


@app.task(bind=True, name=INDEX_MAINTAIN, ignore_result=True, acks_late=True, max_retries=None)
def index_maintain(self) -> int:
    """Build the HNSW indexes of backfills' closed segments, and merge them when nothing loads.

    Asked for when a segment fills or a bulk job ends, and by beat every sweep. One runs at a
    time: a request that finds another maintainer busy comes back shortly, so none is lost, and
    only one such copy waits (``project/embeddings/pending.py``). Returns how many indexes it built.
    """
    pending.running(INDEX_MAINTAIN, self.request.id)
    built = builder.maintain()
    if built is None:
        if pending.come_back(INDEX_MAINTAIN, self.request.id):
            raise self.retry(countdown=MAINTAIN_RETRY_SECONDS)
        return 0
    return len(built)


@app.task(bind=True, name=BATCHES_DRIVE, ignore_result=True, acks_late=True, max_retries=None,
          autoretry_for=DATABASE_UNAVAILABLE, retry_backoff=True, retry_backoff_max=60)  # fmt: skip
def batches_drive(self) -> int:
    """Move every batch of the batch lane one step: form, upload, wait for room, create, poll, store.

    Run by beat every ``TOLLGATE_BATCH_POLL_SECONDS`` and asked for when batch-lane groups
    commit; it returns at once instead of sleeping on a batch. One runs at a time: a request that
    finds another driver busy comes back shortly, so new groups never wait a whole poll, and only
    one such copy waits (``project/embeddings/pending.py``). Returns how many batches it formed.
    """
    pending.running(BATCHES_DRIVE, self.request.id)
    report = driver.drive()
    if report is None:
        if pending.come_back(BATCHES_DRIVE, self.request.id):
            raise self.retry(countdown=MAINTAIN_RETRY_SECONDS)
        return 0
    return report.formed


@app.task(name=BATCH_STORE, ignore_result=True, acks_late=True, max_retries=None,
          autoretry_for=DATABASE_UNAVAILABLE, retry_backoff=True, retry_backoff_max=60)  # fmt: skip
def batch_store(batch_id: int) -> bool:
    """Store a finished batch's results through the write path; the driver sends it and polls on meanwhile."""
    return results.batch_store(batch_id)


@app.task(name=SOURCES_FOLLOW, ignore_result=True, autoretry_for=DATABASE_UNAVAILABLE, max_retries=3)
def sources_follow_task() -> int:
    """Drain the sources' changes and backfills into jobs (``workers/sources.py`` sends it while none waits)."""
    follow_started()
    return sources_follow()
