"""The Celery baseline of the throughput bench: per-task ``rate_limit`` and ``autoretry_for``, as a user writes it.

Its own app on tollgate's broker with its own queue, so tollgate's workers never take its
tasks. Start its workers from the repository root::

    python -m celery -A bench.throughput_naive worker --queues throughput-naive --pool threads

``rate_limit`` is the account's RPM (scaled to the simulator's time scale by the bench through
``THROUGHPUT_NAIVE_RATE_LIMIT``); Celery enforces it per worker, so W workers may send W times
the limit, and nothing limits tokens. A 429 retries with Celery's exponential backoff and
its default ``max_retries`` (3); a task that runs out of retries loses its chunks. The bench
counts outcomes in Redis (``<run>:ok`` / ``<run>:failed``) to know when every task has ended.
"""

from __future__ import annotations

import functools
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django.setup()

import openai  # noqa: E402
import redis  # noqa: E402
from celery import Celery, Task  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.throughput_baselines import client, embed_and_store  # noqa: E402

QUEUE = "throughput-naive"
RATE_LIMIT = os.environ.get("THROUGHPUT_NAIVE_RATE_LIMIT", "3000/m")  # Tier 1 RPM, unscaled

app = Celery("throughput_naive", broker=settings.CELERY_BROKER_URL)
app.conf.update(
    task_default_queue=QUEUE,
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@functools.cache
def _api() -> openai.OpenAI:
    return client(settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY)


class Counted(Task):
    """Counts each task's final outcome under the run name it was given (bench bookkeeping only)."""

    def on_success(self, retval, task_id, args, kwargs) -> None:
        _redis().incr(f"{args[1]}:ok")

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        _redis().incr(f"{args[1]}:failed")


@app.task(
    base=Counted,
    name="bench.naive_embed",
    rate_limit=RATE_LIMIT,
    autoretry_for=(openai.RateLimitError,),
    retry_backoff=True,
)
def naive_embed(chunk_ids: list[int], run: str) -> int:
    return embed_and_store(_api(), chunk_ids, model=settings.TOLLGATE_MODEL, dimensions=settings.TOLLGATE_DIMENSIONS)
