"""Celery tasks: thin wrappers that turn an :class:`~workers.embedding.Outcome` into Celery's idioms."""

from __future__ import annotations

from .app import app
from .config import bulk_reserve, max_countdown, stall_seconds
from .embedding import embed_chunks
from .producer import sweep_stalled


@app.task(bind=True, name="tollgate.embed_group", max_retries=None, acks_late=True, reject_on_worker_lost=True)
def embed_group(self, job_id: int, chunk_ids: list[int], attempt: int = 0) -> None:
    """Embed one group of chunks of a job under the shared limit.

    Waiting for the limiter or a 429 retries with the same ``attempt``; only real failures
    (5xx, timeouts) advance it, so waits never use up the retries those failures need.
    """
    outcome = embed_chunks(job_id, chunk_ids, attempt=attempt, reserve=bulk_reserve())
    for half in outcome.split:
        embed_group.delay(job_id, half)
    if outcome.retry_in is not None:
        countdown = min(outcome.retry_in, max_countdown())  # stays below the broker's visibility timeout
        raise self.retry(args=(job_id, chunk_ids, outcome.next_attempt), countdown=countdown, max_retries=None)


@app.task(name="tollgate.sweep", ignore_result=True)
def sweep() -> list[int]:
    """Run by Celery beat: the database is the truth, so what it says is pending gets enqueued again."""
    return sweep_stalled(stall_seconds())
