"""The gate: every request to a provider passes here, bulk and interactive alike.

One sequence, in one place: ask the shared limiter for 1 request + T tokens (sleeping in place
while the wait is short), call the provider — an embedding, or a chat answer admitted on its
prompt + ``max_tokens`` (``call``, see :mod:`providers.chat`) — then teach the limiter what the server said —
the response's real token usage and its ``openai-processing-ms`` (reconcile), its
``x-ratelimit-*`` headers (observe), and after a real 429 a cooldown for every worker.

A served response is paid for: nothing that can fail stands between it and the caller. The
reconcile and observe of a success are left in the passage (:meth:`Passage.settle`) for the
caller to run once it has stored the vectors; they are best-effort (logged when Redis fails),
since the limiter only learns from them and a failure must never send the paid call again.

Every way through is data: :func:`pass_gate` returns a :class:`Passage` holding the vectors,
or when to come back (so a Celery task can turn it into ``self.retry`` and a search can sleep),
or the provider's refusal (a :class:`~providers.errors.ProviderError`) with what was learnt on
the way. Only a request that can never be admitted raises (:class:`ratelimit.NeverFits`),
before anything is sent.

Example::

    passage = pass_gate(limiter=limiter, client=client_for(config), config=config,
                        texts=["hello"], tokens=1)
    if passage.result is None:
        time.sleep(passage.retry_after)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import openai

from ratelimit import Decision, Limiter, RateLimitError

from .client import EmbedResult, embed
from .config import ProviderConfig
from .errors import ProviderError, RateLimited

__all__ = ["INTERACTIVE_TIMEOUT", "Passage", "Served", "Waiting", "embed_within", "pass_gate", "pass_within", "through"]

INTERACTIVE_TIMEOUT = 30.0  # seconds a query may wait for the limit before giving up

logger = logging.getLogger(__name__)


def _nothing() -> None:
    return None


class Served(Protocol):
    """What a call through the gate returns: the tokens the server counted (read when the limiter
    learns, so a streamed answer's are its final usage), its headers, and when it counted it."""

    headers: dict[str, str]

    @property
    def total_tokens(self) -> int: ...

    def counted_ago(self) -> float: ...


@dataclass(frozen=True)
class Waiting:
    """How long a caller waits at the gate in place before it gives its slot back.

    A short wait (capacity freeing as old admissions leave the window, or the pace's next slot)
    is booked with the limiter and slept in place, so the request goes the moment it fits; a
    longer one is slept until its slot can be booked, up to ``most`` in all; a longer one still
    (a cooldown, a full window) is returned to the caller.
    """

    inline: float = 1.0  # seconds: a slot at most this far ahead is booked (the booking horizon)
    most: float = 5.0  # seconds waited in place in all (before booking) before returning
    jitter: float = 0.005  # seconds: waiters told the same moment arrive a few ms apart


@dataclass(frozen=True)
class Passage:
    """What happened at the gate.

    ``result`` holds the vectors (or the ``call``'s response) when the request was served. ``error`` holds the provider's
    refusal (never a 429: that is ``rate_limited``). Otherwise ``retry_after`` says in how many
    seconds to come back, and ``rate_limited`` whether the server itself answered 429 rather
    than the shared limiter saying "not now" (``reason`` says why the limiter did, as in
    :attr:`ratelimit.Decision.reason`). ``clock_offset`` is Redis's clock minus this host's, so
    a retry can be timed on the clock every host shares.
    """

    result: EmbedResult | Served | None
    retry_after: float = 0.0
    refusals: int = 0  # times the limiter said "not now" (or "at this moment just ahead") on the way
    rate_limited: bool = False
    error: ProviderError | None = None
    clock_offset: float = 0.0
    reason: str = ""
    bookkeeping: Callable[[], None] = _nothing  # what the limiter learns from a success: run by settle()
    deployment: str = ""  # the pool's deployment it went to (providers/pool.py); "" for a single provider
    failover: bool = False  # the deployment failed, another may take it now: not an attempt of the request's own

    def settle(self) -> bool:
        """Teach the limiter what the server said (after the caller stored the result); False if Redis failed.

        Best-effort: the response is paid for and stored, so a limiter that cannot be reached
        is logged, never raised (the next admissions and the server's headers correct it).
        """
        try:
            self.bookkeeping()
        except RateLimitError as exc:
            logger.warning("the limiter could not learn from a served request (kept going): %s", exc)
            return False
        return True

    @property
    def server_wait(self) -> bool:
        """Whether ``retry_after`` is a wait the server imposed (its 429, or the cooldown one set):
        a floor for the next attempt, never to be cut short, unlike the limiter's own estimate."""
        return self.rate_limited or self.reason == "cooldown"

    @property
    def requested(self) -> bool:
        """Whether a request went out (and is counted, and billed a request slot)."""
        return self.result is not None or self.rate_limited or self.error is not None


def pass_gate(
    *,
    limiter: Limiter,
    client: openai.OpenAI | None = None,
    config: ProviderConfig | None = None,
    texts: Sequence[str] = (),
    tokens: int,
    reserve: float = 0.0,
    pace: bool = True,
    waiting: Waiting = Waiting(),
    call: Callable[[], Served] | None = None,
) -> Passage:
    """Admit, call and reconcile one request of ``texts`` (``tokens`` by the caller's count).

    ``call`` sends another kind of request instead of embedding ``texts`` with ``client`` and
    ``config`` (a chat answer: :func:`providers.chat.chat_open`, ``tokens`` its prompt +
    ``max_tokens``); it raises the provider's refusal as a :class:`ProviderError`, and its
    response's ``total_tokens`` is read only when the limiter learns (:meth:`Passage.settle`).

    ``reserve`` is the share of each limit this caller leaves free (a backfill leaves some for
    searches); ``pace=False`` lets a short job or a query use the window's free capacity at once
    (:meth:`ratelimit.Limiter.acquire`). Raises :class:`ratelimit.NeverFits` when the request
    can never be admitted.
    """
    decision, refusals = _admission(limiter, tokens, reserve, pace, waiting)
    return through(
        limiter=limiter, client=client, config=config, texts=texts, tokens=tokens, decision=decision,
        refusals=refusals, call=call,
    )  # fmt: skip


def through(
    *,
    limiter: Limiter,
    client: openai.OpenAI | None,
    config: ProviderConfig | None,
    texts: Sequence[str],
    tokens: int,
    decision: Decision,
    refusals: int = 0,
    call: Callable[[], Served] | None = None,
) -> Passage:
    """The rest of the gate once ``limiter`` decided: sleep to a booked moment, call, and what it learns.

    Shared by :func:`pass_gate` and a pool's gate (``providers/pool.py``), which decides among
    deployments first. A refused ``decision`` is returned as "not now"; ``call`` as in :func:`pass_gate`.
    """
    offset = decision.at - decision.delay - time.time()
    if not decision.admitted:
        return Passage(None, decision.retry_after, refusals, clock_offset=offset, reason=decision.reason)
    if decision.reserved:  # booked for a moment just ahead: sent then, not before
        time.sleep(decision.delay)
        refusals += 1
    # Nothing between the admission and the request: the limiter counts it from (about) when
    # the server saw it, so every moment spent here would be capacity left unused.
    try:
        result = call() if call is not None else embed(client, config, list(texts))
    except RateLimited as exc:
        try:  # every worker waits too; if Redis cannot say so now, this caller still waits
            limiter.cooldown(exc.retry_after)
            limiter.observe(exc.headers, at=decision.at)
        except RateLimitError as unavailable:
            wait = exc.retry_after
            logger.warning("a 429's cooldown could not be shared (this request still waits %.3gs): %s", wait, unavailable)
        return Passage(None, exc.retry_after, refusals, rate_limited=True, clock_offset=offset)
    except ProviderError as exc:
        return Passage(None, refusals=refusals, error=exc, clock_offset=offset)

    def bookkeeping() -> None:
        limiter.reconcile(tokens, result.total_tokens, admission=decision, served=result.counted_ago())
        limiter.observe(result.headers, at=decision.at)

    return Passage(result, refusals=refusals, clock_offset=offset, bookkeeping=bookkeeping)


def embed_within(
    *,
    limiter: Limiter,
    client: openai.OpenAI,
    config: ProviderConfig,
    texts: Sequence[str],
    tokens: int,
    timeout: float = INTERACTIVE_TIMEOUT,
) -> EmbedResult:
    """Embed now for a waiting person: through the gate with no reserve, waiting up to ``timeout``.

    Raises :class:`RateLimited` when the limit (the shared one, or the server's) would keep the
    caller waiting past the timeout, the provider's refusal as it came, and
    :class:`ratelimit.NeverFits` for a text the limit can never admit.
    """
    passage = pass_within(limiter=limiter, tokens=tokens, timeout=timeout,
                          call=lambda: embed(client, config, list(texts)))  # fmt: skip
    passage.settle()
    return passage.result


def pass_within(
    *, limiter: Limiter, tokens: int, call: Callable[[], Served], timeout: float = INTERACTIVE_TIMEOUT
) -> Passage:
    """Through the gate for a waiting person: no reserve, no pacing, waiting up to ``timeout``.

    Returns the served passage, for the caller to :meth:`~Passage.settle` once it has read the
    response (a streamed answer: at its end). Raises as :func:`embed_within` does.
    """
    deadline = time.monotonic() + timeout
    while True:
        passage = pass_gate(limiter=limiter, tokens=tokens, pace=False, call=call)
        if passage.error is not None:
            raise passage.error
        if passage.result is not None:
            return passage
        if time.monotonic() + passage.retry_after > deadline:
            who = "the provider's rate limit" if passage.rate_limited else "the shared rate limit"
            raise RateLimited(
                f"{who} is busy for {passage.retry_after:.1f} s more; try again shortly",
                retry_after=passage.retry_after,
                headers={},
            )
        time.sleep(passage.retry_after)


def _admission(limiter: Limiter, tokens: int, reserve: float, pace: bool, waiting: Waiting) -> tuple[Decision, int]:
    """Acquire, booking a slot up to ``waiting.inline`` ahead, and waiting in place for one up to
    ``waiting.most`` in all; also how many times it was refused.

    A refusal whose wait is longer than the booking horizon is slept in place until the slot comes
    within it (the next ones are booked by others meanwhile, in order), so a pool of many workers
    queues at the gate instead of sending its tasks away and back; only a wait past ``most`` (a
    full window, a cooldown) is returned to the caller.
    """
    waited, refusals = 0.0, 0
    while True:
        decision = limiter.acquire(tokens, reserve=reserve, pace=pace, book_within=waiting.inline)
        if decision.admitted:
            return decision, refusals
        refusals += 1
        bookable = decision.reason in ("requests", "tokens")  # the pace or the log; never a cooldown
        ahead = waiting.inline if bookable else 0.0
        pause = max(0.0, decision.retry_after - ahead) + random.uniform(0, waiting.jitter)
        if waited + pause > waiting.most:
            return decision, refusals
        time.sleep(pause)
        waited += pause
