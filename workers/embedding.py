"""Embedding one group: claim it, the gate (admit, call), store first, then settle, and say what comes next.

Returns a decision (:class:`Outcome`) instead of retrying itself, so the Celery task stays a
few lines and this logic runs the same in a test, a worker or a shell. Every change to the
group's row is a verb of ``project.embeddings.groups.life`` that says whether this task still
holds the claim; a task that lost it (it stalled past its lease and the sweep gave the group to
another) stops there, and never calls the provider.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from project.embeddings.groups import fairshare, life
from project.embeddings.groups.inputs import Send, sends_of
from project.embeddings.groups.queue import groups_split
from project.embeddings.jobs.counters import count, fail_chunks
from project.embeddings.jobs.status import finish_if_done, pause
from project.embeddings.models import EmbeddingGroup, EmbeddingJob
from project.embeddings.plan.preflight import dimensions_check
from project.embeddings.store.inflight import WAIT_FOR_ANOTHER, claim_inputs
from project.embeddings.store.reuse import reuse_pending
from project.embeddings.store.write import store_paid
from project.errors import DimensionsMismatch
from project.provider import bulk_reserve, max_countdown, provider_pool, retry_policy
from providers import InvalidInput, MalformedResponse, Passage, RequestTooLarge, Transient
from providers.pool import pool_gate
from ratelimit import LimiterUnavailable, NeverFits

logger = logging.getLogger(__name__)

JITTER = 0.25  # seconds at most, so tasks told the same wait do not all return at once
EARLY = 0.5  # seconds: a task sent away to wait for the limiter returns this early and waits the rest in place
BACKOFF_BASE = 1.0


@dataclass(frozen=True)
class Outcome:
    """What the task does next: nothing, or wait and try again (smaller groups are rows, sent by ``groups``)."""

    retry_in: float | None = None  # seconds
    next_attempt: int = 0  # failures so far (limiter waits and 429s are not failures)
    clock_offset: float = 0.0  # Redis's clock minus this host's, seconds: retries are timed on Redis's

    @classmethod
    def done(cls) -> Outcome:
        return cls()


def jitter() -> float:
    return random.uniform(0, JITTER)


def embed_group_once(group_id: int, *, attempt: int = 0, holder: str = "") -> Outcome:
    """Claim the group, reuse what is stored, send each distinct input once, store first, then settle.

    Nothing is called unless this task holds the group's claim (``life.claim``): a second
    delivery, a resumed duplicate or a swept copy does nothing while another holds it.
    """
    group = life.claim(group_id, holder=holder)
    if group is None:  # claimed elsewhere, done, or its job paused, cancelled, completed or gone
        return Outcome.done()
    if fairshare.waits_its_turn(group):  # its owner holds its share: held for the dispatcher, the others sent
        return Outcome.done()
    try:
        outcome = _embed_claimed(group, attempt)
        if outcome.retry_in is None:  # its share of the work in flight is free: the next owner's turn
            fairshare.dispatch()
        return outcome
    except LimiterUnavailable:
        # Given back at once: the task's autoretry claims it when Redis is back, or (if that retry
        # was lost with Redis's data) the sweep sends it again after the stall time.
        life.release(group)
        raise


def _embed_claimed(group: EmbeddingGroup, attempt: int) -> Outcome:
    job = group.job  # active when claimed (the claim reads it); a pause meanwhile stops the next claim
    try:
        dimensions_check(job.dimensions, cached=True)
    except DimensionsMismatch as exc:
        pause(job.pk, str(exc))
        life.release(group)
        return Outcome.done()
    _, rows = reuse_pending(job, group.chunk_ids)  # copies what another job of the owner stored meanwhile
    todo = sends_of(job, rows)
    if not todo:  # a redelivered task whose work is already stored
        life.finish(group)
        finish_if_done(job.pk, exact=True)
        return Outcome.done()
    pool = provider_pool(job.model, job.dimensions)
    if not life.calling(group):  # stalled past the lease: the group is another holder's now
        logger.warning("group %s: the claim was lost before the call; nothing sent", group.pk)
        return Outcome.done()
    mine, waiting = claim_inputs(job, group, todo)  # inputs another group is sending are waited for
    if not mine:
        return _later(group, WAIT_FOR_ANOTHER + jitter(), attempt, 0.0)
    texts = [text for send in mine for text in send.inputs.texts]
    tokens = sum(t for send in mine for t in send.inputs.tokens)
    try:
        passage = pool_gate(
            pool,
            texts=texts,
            tokens=tokens,
            reserve=0.0 if group.interactive else bulk_reserve(),
            pace=group.paced,
        )
    except NeverFits as exc:
        if len(todo) > 1:
            return _halves(group, todo)
        _fail(job, group, mine, f"larger than the rate limit can ever admit: {exc}", waiting)
        return Outcome.done()
    if passage.result is not None:  # paid for: stored before anything else that can fail
        group.deployment = passage.deployment  # recorded with the store (life.stored)
        try:  # fail what it lacks, pause the job for what it cannot store
            store_paid(
                job, group, mine, passage.result.vectors, passage.result.total_tokens, waits=passage.refusals,
                rest_waiting=bool(waiting),
            )  # fmt: skip
        finally:
            passage.settle()  # after the store: a Redis error here never sends the paid call again
        if waiting:  # back for the inputs another group was sending: their vectors are stored by then
            return Outcome(retry_in=WAIT_FOR_ANOTHER + jitter(), next_attempt=attempt)
        return Outcome.done()
    if passage.refusals:
        count(job.pk, limiter_waits=passage.refusals)
    if passage.error is not None:
        return _refused(job, group, todo, mine, waiting, passage, attempt)
    if passage.rate_limited:
        count(job.pk, requests=1, http_429=1)
    if passage.server_wait:  # the server's own wait (a 429, a cooldown): whole, and on no clock behind ours
        return _later(group, passage.retry_after + jitter(), attempt, max(0.0, passage.clock_offset))
    # Back a little before it fits (never after: a Celery ETA runs late, and the window's room
    # would stand unused meanwhile); the short rest is then slept in place.
    return _later(group, max(0.0, passage.retry_after - EARLY) + jitter(), attempt, passage.clock_offset)


def _later(group: EmbeddingGroup, retry_in: float, attempt: int, clock_offset: float) -> Outcome:
    """Give the claim back with a lease covering the wait, and say when to come back.

    A task that no longer held the claim does not come back: the group's holder retries it.
    """
    wait = min(retry_in, max_countdown())
    if not life.later(group, wait):
        return Outcome.done()
    return Outcome(retry_in=wait, next_attempt=attempt, clock_offset=clock_offset)


def _fail(job: EmbeddingJob, group: EmbeddingGroup, sent: list[Send], reason: str, waiting: list[Send]) -> None:
    """Fail the chunks of what was sent; the group fails too, unless inputs another group sends wait in it."""
    fail_chunks(job.pk, [pk for send in sent for pk in send.chunk_ids], reason)
    if waiting:
        life.later(group, WAIT_FOR_ANOTHER + jitter())
    else:
        life.fail(group)


def _refused(
    job: EmbeddingJob, group: EmbeddingGroup, todo: list[Send], sent: list[Send], waiting: list[Send],
    passage: Passage, attempt: int,
) -> Outcome:  # fmt: skip
    """The provider said no: fail the input at fault, pause the job, or back off and try again."""
    error = passage.error
    count(job.pk, requests=1)
    if isinstance(error, MalformedResponse):  # paid for: never sent again, whatever it held
        _fail(job, group, sent, str(error), waiting)
        return Outcome.done()
    if isinstance(error, (InvalidInput, RequestTooLarge)):
        if len(todo) > 1:  # isolate the input at fault
            return _halves(group, todo)
        _fail(job, group, sent, str(error), waiting)
        return Outcome.done()
    if isinstance(error, Transient) and passage.failover:  # its deployment failed; another of the pool takes it
        return _later(group, jitter(), attempt, max(0.0, passage.clock_offset))
    if isinstance(error, Transient) and attempt + 1 < retry_policy().max_attempts:
        wait = max(_backoff(attempt), error.retry_after + jitter() if error.retry_after else 0.0)  # the server's: a floor
        return _later(group, wait, attempt + 1, max(0.0, passage.clock_offset))
    if isinstance(error, Transient):
        _fail(job, group, sent, f"gave up after {attempt + 1} attempts: {error}", waiting)
        return Outcome.done()
    # AccountBlocked, and anything else the provider says that no retry can mend
    pause(job.pk, str(error))
    life.release(group)
    logger.error("job %s paused: %s", job.pk, error)
    return Outcome.done()


def _halves(group: EmbeddingGroup, todo: list[Send]) -> Outcome:
    middle = len(todo) // 2
    halves = [
        ([pk for send in half for pk in send.chunk_ids], sum(sum(send.inputs.tokens) for send in half))
        for half in (todo[:middle], todo[middle:])
    ]
    groups_split(group, halves)
    return Outcome.done()


def _backoff(attempt: int) -> float:
    """Exponential, capped, with jitter so retries of many tasks spread out."""
    return random.uniform(0.5, 1.0) * min(retry_policy().max_backoff, BACKOFF_BASE * 2**attempt)
