"""Embedding one group: the gate (admit, call, reconcile), then store, and say what comes next.

Returns a decision (:class:`Outcome`) instead of retrying itself, so the Celery task stays a
few lines and this logic runs the same in a test, a worker or a shell.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field

from project.embeddings import jobs
from project.provider import provider_config, retry_policy, shared_limiter
from providers import InvalidInput, Passage, RequestTooLarge, Transient, client_for, pass_gate
from providers.inputs import ChunkInputs, combine
from ratelimit import NeverFits

logger = logging.getLogger(__name__)

JITTER = 0.25  # seconds at most, so tasks told the same wait do not all return at once
EARLY = 0.5  # seconds: a task sent away to wait for the limiter returns this early and waits the rest in place
BACKOFF_BASE = 1.0


@dataclass(frozen=True)
class Outcome:
    """What the task does next: nothing, wait and try again, or enqueue smaller groups."""

    retry_in: float | None = None  # seconds
    next_attempt: int = 0  # failures so far (limiter waits and 429s are not failures)
    split: list[list[int]] = field(default_factory=list)
    clock_offset: float = 0.0  # Redis's clock minus this host's, seconds: retries are timed on Redis's

    @classmethod
    def done(cls) -> Outcome:
        return cls()


def jitter() -> float:
    return random.uniform(0, JITTER)


def embed_chunks(
    job_id: int, chunk_ids: list[int], *, attempt: int = 0, reserve: float = 0.0, pace: bool = True
) -> Outcome:
    job = jobs.active_job(job_id)
    if job is None:  # paused, cancelled, completed or gone: no call to the API
        return Outcome.done()
    todo = jobs.group_inputs(job, chunk_ids)
    if not todo:  # a redelivered task whose work is already stored
        jobs.finish_if_done(job_id, exact=True)
        return Outcome.done()
    texts = [text for item in todo for text in item.texts]
    tokens = sum(t for item in todo for t in item.tokens)

    config = provider_config(job.model, job.dimensions)
    limiter = shared_limiter(job.model)
    try:
        passage = pass_gate(
            limiter=limiter,
            client=client_for(config),
            config=config,
            texts=texts,
            tokens=tokens,
            reserve=reserve,
            pace=pace,
        )
    except NeverFits as exc:
        if len(todo) > 1:
            return _halves(todo)
        jobs.fail_chunks(job_id, [todo[0].chunk_id], f"larger than the rate limit can ever admit: {exc}")
        return Outcome.done()
    if passage.refusals:
        jobs.count(job_id, limiter_waits=passage.refusals)
    if passage.error is not None:
        return _refused(job_id, todo, passage, attempt)
    if passage.rate_limited:
        jobs.count(job_id, requests=1, http_429=1)
        return Outcome(retry_in=passage.retry_after + jitter(), next_attempt=attempt, clock_offset=passage.clock_offset)
    if passage.result is None:
        # Back a little before it fits (never after: a Celery ETA runs late, and the window's
        # room would stand unused meanwhile); the short rest is then slept in place.
        retry_in = max(0.0, passage.retry_after - EARLY) + jitter()
        return Outcome(retry_in=retry_in, next_attempt=attempt, clock_offset=passage.clock_offset)

    result = passage.result
    vectors, position = {}, 0
    for item in todo:
        count = len(item.texts)
        vectors[item.chunk_id] = combine(result.vectors[position : position + count], item.tokens)
        position += count
    jobs.store_embeddings(job_id, job.model, job.dimensions, vectors, result.total_tokens)
    return Outcome.done()


def _refused(job_id: int, todo: list[ChunkInputs], passage: Passage, attempt: int) -> Outcome:
    """The provider said no: fail the input at fault, pause the job, or back off and try again."""
    error = passage.error
    jobs.count(job_id, requests=1)
    if isinstance(error, (InvalidInput, RequestTooLarge)):
        if len(todo) > 1:  # isolate the input at fault
            return _halves(todo)
        jobs.fail_chunks(job_id, [todo[0].chunk_id], str(error))
        return Outcome.done()
    if isinstance(error, Transient) and attempt + 1 < retry_policy().max_attempts:
        return Outcome(retry_in=_backoff(attempt), next_attempt=attempt + 1, clock_offset=passage.clock_offset)
    if isinstance(error, Transient):
        jobs.fail_chunks(job_id, [item.chunk_id for item in todo], f"gave up after {attempt + 1} attempts: {error}")
        return Outcome.done()
    # AccountBlocked, and anything else the provider says that no retry can mend
    jobs.pause(job_id, str(error))
    logger.error("job %s paused: %s", job_id, error)
    return Outcome.done()


def _halves(todo: list[ChunkInputs]) -> Outcome:
    middle = len(todo) // 2
    return Outcome(split=[[i.chunk_id for i in todo[:middle]], [i.chunk_id for i in todo[middle:]]])


def _backoff(attempt: int) -> float:
    """Exponential, capped, with jitter so retries of many tasks spread out."""
    return random.uniform(0.5, 1.0) * min(retry_policy().max_backoff, BACKOFF_BASE * 2**attempt)
