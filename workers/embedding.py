"""Embedding one group: ask the shared limit, call the provider, store, and say what comes next.

Returns a decision (:class:`Outcome`) instead of retrying itself, so the Celery task stays a
few lines and this logic runs the same in a test, a worker or a shell.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

from project.embeddings.models import Chunk, EmbeddingJob
from project.tokenization import encoding_for_model
from ratelimit import Decision, Limiter, NeverFits

from . import jobs
from .catalog import model_info
from .config import provider_config, retry_policy, shared_limiter
from .errors import AccountBlocked, InvalidInput, RateLimited, RequestTooLarge, Transient
from .inputs import ChunkInputs, chunk_inputs, combine
from .providers import client_for, embed

logger = logging.getLogger(__name__)

JITTER = 0.25  # seconds at most, so tasks told the same wait do not all return at once
INLINE_WAIT = 1.0  # seconds: a shorter wait for the limiter is slept in the task, not retried
MAX_INLINE_WAIT = 5.0  # seconds a task waits in place in all, before it gives its slot back
INLINE_JITTER = 0.005  # seconds: waiters told the same moment arrive a few ms apart
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


def embed_chunks(job_id: int, chunk_ids: list[int], *, attempt: int = 0, reserve: float = 0.0) -> Outcome:
    job = EmbeddingJob.objects.filter(pk=job_id, status__in=jobs.ACTIVE).first()
    if job is None:  # paused, cancelled, completed or gone: no call to the API
        return Outcome.done()
    todo = _inputs(job, chunk_ids)
    if not todo:  # a redelivered task whose work is already stored
        jobs.finish_if_done(job_id, exact=True)
        return Outcome.done()
    texts = [text for item in todo for text in item.texts]
    tokens = sum(t for item in todo for t in item.tokens)

    limiter = shared_limiter(job.model)
    config = provider_config(job.model, job.dimensions)
    client = client_for(config)
    try:
        decision, refusals = _admission(limiter, tokens, reserve)
    except NeverFits as exc:
        if len(todo) > 1:
            return _halves(todo)
        jobs.fail_chunks(job_id, [todo[0].chunk_id], f"larger than the rate limit can ever admit: {exc}")
        return Outcome.done()
    offset = decision.at - time.time()  # a host whose clock is off must not time retries for the others
    if refusals:
        jobs.count(job_id, limiter_waits=refusals)
    if not decision.admitted:
        # Back a little before it fits (never after: a Celery ETA runs late, and the window's
        # room would stand unused meanwhile); the short rest is then slept in place.
        retry_in = max(0.0, decision.retry_after - EARLY) + jitter()
        return Outcome(retry_in=retry_in, next_attempt=attempt, clock_offset=offset)

    # Nothing between the admission and the request: the limiter counts it from (about) when
    # the server saw it, so every moment spent here would be capacity left unused.
    try:
        result = embed(client, config, texts)
    except RateLimited as exc:
        limiter.cooldown(exc.retry_after)
        limiter.observe(exc.headers)
        jobs.count(job_id, requests=1, http_429=1)
        return Outcome(retry_in=exc.retry_after + jitter(), next_attempt=attempt, clock_offset=offset)
    except (InvalidInput, RequestTooLarge) as exc:
        jobs.count(job_id, requests=1)
        if len(todo) > 1:  # isolate the input at fault
            return _halves(todo)
        jobs.fail_chunks(job_id, [todo[0].chunk_id], str(exc))
        return Outcome.done()
    except AccountBlocked as exc:
        jobs.count(job_id, requests=1)
        jobs.pause(job_id, str(exc))
        logger.error("job %s paused: %s", job_id, exc)
        return Outcome.done()
    except Transient as exc:
        jobs.count(job_id, requests=1)
        if attempt + 1 >= retry_policy().max_attempts:
            jobs.fail_chunks(job_id, [item.chunk_id for item in todo], f"gave up after {attempt + 1} attempts: {exc}")
            return Outcome.done()
        return Outcome(retry_in=_backoff(attempt), next_attempt=attempt + 1, clock_offset=offset)

    limiter.reconcile(tokens, result.total_tokens, admission=decision, served=result.served)
    limiter.observe(result.headers)
    vectors, position = {}, 0
    for item in todo:
        count = len(item.texts)
        vectors[item.chunk_id] = combine(result.vectors[position : position + count], item.tokens)
        position += count
    jobs.store_embeddings(job_id, job.model, job.dimensions, vectors, result.total_tokens)
    return Outcome.done()


def _admission(limiter: Limiter, tokens: int, reserve: float) -> tuple[Decision, int]:
    """Acquire, waiting in place while the wait is short.

    A short wait (capacity freeing as old admissions leave the window) is slept here: the slot
    is back at the gate the moment the request fits. A long one (a cooldown, a full window)
    is returned, and the task gives its slot back through a Celery retry. Also returns how many
    times the limiter said "not now".
    """
    waited, refusals = 0.0, 0
    while True:
        decision = limiter.acquire(tokens, reserve=reserve)
        refusals += not decision.admitted
        if decision.admitted or decision.retry_after > INLINE_WAIT or waited > MAX_INLINE_WAIT:
            return decision, refusals
        pause = decision.retry_after + random.uniform(0, INLINE_JITTER)
        time.sleep(pause)
        waited += pause


def _inputs(job: EmbeddingJob, chunk_ids: list[int]) -> list[ChunkInputs]:
    rows = jobs.pending_chunks(job).filter(pk__in=chunk_ids).values_list("pk", "text", "token_count")
    encoding = encoding_for_model(job.model)
    max_tokens = model_info(job.model).max_input_tokens
    return [
        chunk_inputs(pk, text, count, policy=job.long_input_policy, max_tokens=max_tokens, encoding=encoding)
        for pk, text, count in rows
    ]


def _halves(todo: list[ChunkInputs]) -> Outcome:
    middle = len(todo) // 2
    return Outcome(split=[[i.chunk_id for i in todo[:middle]], [i.chunk_id for i in todo[middle:]]])


def _backoff(attempt: int) -> float:
    """Exponential, capped, with jitter so retries of many tasks spread out."""
    return random.uniform(0.5, 1.0) * min(retry_policy().max_backoff, BACKOFF_BASE * 2**attempt)
