"""How big a request group is, and what a backfill will take at given limits (``--dry-run``).

Pure functions of the limits and the chunks' sizes: the caller passes its configured
:class:`ratelimit.Limits`, so a plan, an estimate and the workers always agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from ratelimit import Limits

from .catalog import MAX_TOKENS_PER_REQUEST, model_info
from .packing import Item, pack

__all__ = ["SHORT_JOB_WINDOWS", "Estimate", "estimate", "estimate_chunks", "group_budget", "is_short"]

GROUP_SHARE_OF_TPM = 100  # a group of 1% of TPM: at most ~0.5% of the window left unused
REQUEST_HEADROOM = 2  # groups big enough that filling TPM takes at most half the RPM
GROUP_SECONDS = 0.25  # a group carries at least this long of the limit's rate
SHORT_JOB_GROUPS = 8  # a short job's first window goes out in this many groups
# A job of at most this many windows' tokens has no steady state: it goes unpaced, using the
# window's free capacity at once (two windows' tokens then take one window, not two).
SHORT_JOB_WINDOWS = 2


def is_short(limits: Limits, tokens: int) -> bool:
    """Whether a job of ``tokens`` is short: sent unpaced, in larger groups (``SHORT_JOB_WINDOWS``)."""
    return tokens <= SHORT_JOB_WINDOWS * limits.tokens


def group_budget(limits: Limits, *, configured: int = 0, short: bool = False, reserve: float = 0.0) -> int:
    """Tokens per request group: ``configured``, else sized for the limit; never above TPM or the API's cap.

    Small groups leave little of the window unused: a group is admitted only when it fits whole,
    so on average half a group's worth of the limit waits. But never so small that the request
    limit binds before the token limit (at least two windows' worth of requests' share), nor that
    each request's own cost (a task, a few statements, a round trip) is paid many times a second
    in a short window (at least ``GROUP_SECONDS`` of the limit's rate: a 6 s window's 150,000
    tokens make groups of 6,250, not 1,500). A ``short`` job (two windows or less, sent unpaced)
    fills its first window in ``SHORT_JOB_GROUPS`` groups, so a pool of a few workers sends it
    in about one round trip instead of many (the API's 2,048 inputs a request still apply);
    ``reserve`` is the share of the window the job leaves free, so that many fit exactly.
    """
    budget = configured or max(
        limits.tokens // GROUP_SHARE_OF_TPM,
        math.ceil(REQUEST_HEADROOM * limits.tokens / limits.requests),
        math.ceil(GROUP_SECONDS * limits.tokens / limits.window_seconds),
    )
    if short and not configured:  # exactly SHORT_JOB_GROUPS fill what the window admits (less the reserve)
        budget = max(budget, math.floor(limits.tokens * (1 - reserve)) // SHORT_JOB_GROUPS)
    return max(1, min(budget, limits.tokens, MAX_TOKENS_PER_REQUEST))


@dataclass(frozen=True)
class Estimate:
    chunks: int
    tokens: int
    requests: int
    minutes_at_limits: float  # real minutes, at the limits' requests and tokens per window
    usd: float  # on the sync lane
    batch_usd: float = 0.0  # the same tokens on the batch lane (the Batch API's half price)
    reused_chunks: int = 0  # chunks whose input is sent by another chunk, or already stored: not sent
    reused_tokens: int = 0
    saved_usd: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def estimate(*, limits: Limits, model: str, tokens: int, requests: int, chunks: int) -> Estimate:
    windows = max(tokens / limits.tokens, requests / limits.requests)
    return Estimate(
        chunks=chunks,
        tokens=tokens,
        requests=requests,
        minutes_at_limits=round(windows * limits.window_seconds / 60, 2),
        usd=round(tokens / 1e6 * model_info(model).usd_per_million_tokens, 4),
        batch_usd=round(tokens / 1e6 * model_info(model).batch_usd_per_million_tokens, 4),
    )


def estimate_chunks(
    *, limits: Limits, model: str, chunk_tokens: Sequence[int], configured: int = 0, reserve: float = 0.0
) -> Estimate:
    """The estimate for chunks of these sizes, packed the way the producer packs them (``configured``: a set group size)."""
    budget = group_budget(limits, configured=configured, short=is_short(limits, sum(chunk_tokens)), reserve=reserve)
    groups = pack((Item(index, 1, tokens) for index, tokens in enumerate(chunk_tokens)), budget=budget)
    return estimate(limits=limits, model=model, tokens=sum(chunk_tokens), requests=len(groups), chunks=len(chunk_tokens))
