"""Which deployment of a pool takes a request: the one whose limiter admits it soonest.

Pure, given the limiters' and the breakers' answers: no deployment's window is ever guessed from
here, each is asked (``Limiter.acquire`` admits or refuses atomically, and a refusal consumes
nothing). One round asks each deployment that may be sent to, in order of priority (lower
first) and, within a priority, in a shuffle weighted by ``weight``, to admit the request now;
the first that does takes it. If none does, the one that would admit it soonest (its own
answer: the pace, the window, a cooldown) is asked to book it within the gate's horizon, as a
single limiter's caller does (``providers/gate.py``); a wait longer than that is slept in place,
up to ``Waiting.most``, and past that returned to the caller. A deployment whose breaker is open
is skipped; one whose breaker waits for a probe is tried first, by exactly one caller.

Example::

    routed = route(pool.members, tokens=812)
    if routed.member is None:
        time.sleep(routed.decision.retry_after)
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ratelimit import Decision, NeverFits

from .gate import Waiting

__all__ = ["BREAKER", "Routed", "route"]

BREAKER = "breaker"  # the reason of a "not now" when every deployment that fits has its breaker open
ALL_OPEN_WAIT = 1.0  # seconds to come back when the breakers say nothing sooner


@dataclass(frozen=True)
class Routed:
    """The deployment that admitted the request (``member``) and its admission, or None and when to come back."""

    member: Any | None
    decision: Decision
    refusals: int = 0
    probing: bool = False  # the admission is the probe of a half-open breaker


def _refused(wait: float, reason: str) -> Decision:
    return Decision(admitted=False, retry_after=wait, at=time.time(), reason=reason)


def _ordered(members: Sequence[Any], rng: random.Random) -> list[Any]:
    """By priority, lower first; within one, a shuffle weighted by ``weight`` (Efraimidis-Spirakis keys)."""
    return sorted(members, key=lambda m: (m.priority, -(rng.random() ** (1.0 / m.weight))))


def route(
    members: Sequence[Any],
    *,
    tokens: int,
    reserve: float = 0.0,
    pace: bool = True,
    waiting: Waiting = Waiting(),
    rng: random.Random | None = None,
) -> Routed:
    """Admit one request of ``tokens`` at the deployment that can take it soonest (module docstring).

    ``members`` have ``limiter``, ``breaker`` (or None), ``priority``, ``weight`` and ``limits``.
    Raises :class:`ratelimit.NeverFits` when no deployment's limit can ever admit the request.
    """
    rng = rng or random.Random()
    capacity = {id(m): math.floor(m.limits.tokens * (1 - reserve) + 1e-9) for m in members}
    fitting = [m for m in members if tokens <= capacity[id(m)]]
    if not fitting:
        raise NeverFits(max(capacity.values(), default=0), tokens)
    waited, refusals = 0.0, 0
    while True:
        closed, open_waits = [], []
        for member in fitting:
            state = member.breaker.may_send() if member.breaker is not None else None
            if state is None or (state.allowed and not state.probing):
                closed.append(member)
            elif state.probing:
                decision = _acquire(member, tokens, reserve, pace, waiting.inline)
                if decision is not None and decision.admitted:
                    return Routed(member, decision, refusals, probing=True)
                member.breaker.report("release")
                open_waits.append(decision.retry_after if decision is not None else ALL_OPEN_WAIT)
            else:
                open_waits.append(state.wait or ALL_OPEN_WAIT)
        if not closed:
            if len(fitting) < len(members) and not open_waits:
                raise NeverFits(max(capacity.values()), tokens)
            return Routed(None, _refused(min(open_waits, default=ALL_OPEN_WAIT), BREAKER), refusals)
        answers: list[tuple[Any, Decision]] = []
        for member in _ordered(closed, rng):
            decision = _acquire(member, tokens, reserve, pace, 0.0)
            if decision is None:
                continue
            if decision.admitted:
                return Routed(member, decision, refusals)
            answers.append((member, decision))
        if not answers:  # every limit was lowered below the request by the servers' headers
            raise NeverFits(max(capacity.values()), tokens)
        refusals += 1
        member, soonest = _soonest(answers, waiting.inline)
        decision = _acquire(member, tokens, reserve, pace, waiting.inline) or soonest
        if decision.admitted:
            return Routed(member, decision, refusals)
        bookable = decision.reason in ("requests", "tokens")  # the pace or the log; never a cooldown
        pause = max(0.0, decision.retry_after - (waiting.inline if bookable else 0.0)) + rng.uniform(0, waiting.jitter)
        if waited + pause > waiting.most:
            return Routed(None, decision, refusals)
        time.sleep(pause)
        waited += pause


def _soonest(answers: list[tuple[Any, Decision]], horizon: float) -> tuple[Any, Decision]:
    """The refusal to book: the lowest priority whose soonest wait is within the horizon, else the soonest."""
    within = [(m.priority, d.retry_after, i) for i, (m, d) in enumerate(answers) if d.retry_after <= horizon]
    pick = min(within) if within else min((d.retry_after, 0, i) for i, (_, d) in enumerate(answers))
    return answers[pick[2]]


def _acquire(member: Any, tokens: int, reserve: float, pace: bool, book_within: float) -> Decision | None:
    """The member's limiter's answer; None when its (server-lowered) limit can never admit the request."""
    try:
        return member.limiter.acquire(tokens, reserve=reserve, pace=pace, book_within=book_within)
    except NeverFits:
        return None
