"""A pool: several deployments (API keys, OpenAI projects, Azure deployments) of one model as one provider.

Each deployment keeps its own limiter (its account's fingerprint and the model: its own keys,
so no window of any deployment ever holds more than its limit, whoever sends) and its own
circuit breaker. The pool's gate (:func:`pool_gate`) routes each request to the deployment
that admits it soonest (``routing.py``), then passes the one gate sequence (``gate.through``)
and reports what the deployment answered to its breaker (``breaker.py``):

- a refusal of the credentials or the quota takes that deployment out, with the reason, and the
  same request goes at once to another (nothing was paid): the job goes on through the others;
  only when every deployment is out does the caller get the refusal (a job then pauses);
- a 5xx, a timeout or a dropped connection counts against the deployment's breaker, and the
  caller is told another deployment may take the request now (``Passage.failover``);
- a single provider configured without a pool file is a pool of one without a breaker, and its
  gate is exactly :func:`providers.gate.pass_gate`.

Example::

    pool = Pool([Member(Deployment("east", config, limits), limiter, breaker), ...])
    passage = pool_gate(pool, texts=["hello"], tokens=1)
    passage.deployment  # "east"
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ratelimit import Breaker, Limiter, Limits

from .breaker import breaker_outcome
from .config import ProviderConfig, client_for
from .errors import AccountBlocked, ConfigurationError
from .gate import Passage, Waiting, pass_gate, through
from .routing import route

__all__ = ["Deployment", "Member", "Pool", "pool_gate"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployment:
    """One member's place to call (``config``), its own limits, and how routing ranks it.

    ``priority``: lower is tried first; a higher number takes work only when every lower one
    would keep it waiting. ``weight``: among deployments of one priority, the share of first tries.
    """

    name: str
    config: ProviderConfig
    limits: Limits
    weight: float = 1.0
    priority: int = 0

    @property
    def kind(self) -> str:
        return "azure" if self.config.azure_endpoint else "openai"


@dataclass(frozen=True)
class Member:
    """A deployment with its shared limiter and breaker (None: a single provider, which has none)."""

    deployment: Deployment
    limiter: Limiter
    breaker: Breaker | None = None

    @property
    def name(self) -> str:
        return self.deployment.name

    @property
    def config(self) -> ProviderConfig:
        return self.deployment.config

    @property
    def limits(self) -> Limits:
        return self.deployment.limits

    @property
    def weight(self) -> float:
        return self.deployment.weight

    @property
    def priority(self) -> int:
        return self.deployment.priority


class Pool:
    """Deployments of one model and dimensions, routed as one provider (see the module's docstring).

    Raises :class:`ConfigurationError` for deployments of different models or dimensions (their
    vectors could not be compared) or two of one account (the provider keeps one limit for both).
    """

    def __init__(self, members: Sequence[Member]) -> None:
        if not members:
            raise ConfigurationError("a pool needs at least one deployment")
        first = members[0].config
        accounts: dict[str, str] = {}
        for member in members:
            config = member.config
            if (config.model, config.dimensions) != (first.model, first.dimensions):
                raise ConfigurationError(
                    f"deployment {member.name!r} embeds with {config.model} at {config.dimensions} dimensions but "
                    f"{members[0].name!r} with {first.model} at {first.dimensions}: only deployments of the same "
                    "model and dimensions pool together"
                )
            account = config.account()
            if account in accounts:
                raise ConfigurationError(
                    f"deployments {accounts[account]!r} and {member.name!r} are one account (the same key and "
                    "endpoint): the provider keeps one limit for both, so list it once"
                )
            accounts[account] = member.name
        self.members = tuple(members)

    @classmethod
    def single(cls, config: ProviderConfig, limiter: Limiter) -> Pool:
        """The one configured provider, as a pool of one without a breaker."""
        return cls([Member(Deployment("default", config, limiter.limits), limiter)])

    @property
    def model(self) -> str:
        return self.members[0].config.model

    @property
    def dimensions(self) -> int:
        return self.members[0].config.dimensions

    def member(self, name: str) -> Member:
        return next(member for member in self.members if member.name == name)

    def limits(self, window_seconds: float) -> Limits:
        """The pool's limits per ``window_seconds``: the sum of every deployment's rate over that window."""
        rates = [(m.limits.requests / m.limits.window_seconds, m.limits.tokens / m.limits.window_seconds) for m in self.members]
        requests = round(sum(r for r, _ in rates) * window_seconds)
        tokens = round(sum(t for _, t in rates) * window_seconds)
        return Limits(requests=max(1, requests), tokens=max(1, tokens), window_seconds=window_seconds)

    def smallest_tokens(self) -> int:
        """The smallest deployment's tokens per window: a request larger than that fits only some of them."""
        return min(member.limits.tokens for member in self.members)

    def __repr__(self) -> str:
        return f"Pool({', '.join(member.name for member in self.members)})"


def pool_gate(
    pool: Pool,
    *,
    texts: Sequence[str],
    tokens: int,
    reserve: float = 0.0,
    pace: bool = True,
    waiting: Waiting = Waiting(),
) -> Passage:
    """The gate over a pool: route, pass, and tell the deployment's breaker what it answered.

    The :class:`Passage` names the deployment (``deployment``). Raises
    :class:`ratelimit.NeverFits` when no deployment can ever admit the request.
    """
    if len(pool.members) == 1 and pool.members[0].breaker is None:
        only = pool.members[0]
        return pass_gate(
            limiter=only.limiter, client=client_for(only.config), config=only.config, texts=texts, tokens=tokens,
            reserve=reserve, pace=pace, waiting=waiting,
        )  # fmt: skip
    refusals = 0
    while True:
        routed = route(pool.members, tokens=tokens, reserve=reserve, pace=pace, waiting=waiting)
        refusals += routed.refusals
        if routed.member is None:
            out = _all_out(pool)
            if out is not None:
                return Passage(None, refusals=refusals, error=out)
            decision = routed.decision
            return Passage(None, decision.retry_after, refusals, reason=decision.reason)
        member = routed.member
        passage = through(
            limiter=member.limiter, client=client_for(member.config), config=member.config, texts=texts,
            tokens=tokens, decision=routed.decision, refusals=refusals,
        )  # fmt: skip
        passage = dataclasses.replace(passage, deployment=member.name)
        outcome = breaker_outcome(passage)
        if outcome is None or member.breaker is None:
            return passage
        state = member.breaker.report(outcome, reason=str(passage.error or ""))
        if outcome == "block":  # nothing was paid: the others take it now
            logger.error("deployment %s is out of the pool for %.0f s: %s", member.name, state.wait, passage.error)
            refusals = passage.refusals
            continue
        if outcome == "fail":
            if state.state != "closed":
                logger.warning("deployment %s: breaker open for %.1f s: %s", member.name, state.wait, passage.error)
            others = any(m.breaker is None or m.breaker.state().state == "closed" for m in pool.members if m is not member)
            return dataclasses.replace(passage, failover=others)
        return passage


def _all_out(pool: Pool) -> AccountBlocked | None:
    """The refusal to give when every deployment is blocked (credentials, quota, model), else None."""
    states = [(member.name, member.breaker.state()) for member in pool.members if member.breaker is not None]
    if len(states) < len(pool.members) or not all(state.blocked and state.wait > 0 for _, state in states):
        return None
    reasons = "; ".join(f"{name}: {state.reason}" for name, state in states)
    return AccountBlocked(f"every deployment of the pool is out: {reasons}")
