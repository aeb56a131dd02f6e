"""A pool's deployments as every face shows them: each one's window, cooldown, breaker and share; a job's deployments.

Read-only: one usage read and one breaker read per deployment (Redis), one aggregate per job
(PostgreSQL). Without a pool file there are no deployments: the shared limit is the only one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings
from django.db.models import Count, Sum

from project.embeddings.models import EmbeddingGroup, GroupState
from project.provider import provider_pool

__all__ = ["DeploymentView", "job_deployments", "pool_views"]


@dataclass(frozen=True)
class DeploymentView:
    """One deployment now. ``share``: its part of the tokens the pool admitted over the last window;
    ``capacity_share``: its part of the pool's limits (its rate over the sum of the rates)."""

    name: str
    kind: str
    priority: int
    weight: float
    window_seconds: float
    requests_used: int
    requests_limit: int
    tokens_used: int
    tokens_limit: int
    cooldown_seconds: float
    breaker: str  # closed, open, half-open
    breaker_seconds: float  # until it may be tried again
    breaker_reason: str
    blocked: bool  # taken out for its credentials, quota or model
    share: float
    capacity_share: float

    @property
    def tokens_percent(self) -> float:
        return round(100.0 * self.tokens_used / self.tokens_limit, 1) if self.tokens_limit else 0.0

    @property
    def requests_percent(self) -> float:
        return round(100.0 * self.requests_used / self.requests_limit, 1) if self.requests_limit else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "tokens_percent": self.tokens_percent, "requests_percent": self.requests_percent}


def pool_views() -> list[DeploymentView]:
    """Every deployment of the pool (``TOLLGATE_DEPLOYMENTS``), in routing order; [] without a pool.

    Raises :class:`ratelimit.LimiterUnavailable` when Redis does not answer.
    """
    if not settings.TOLLGATE_POOL:
        return []
    pool = provider_pool()
    looks = [(member, member.limiter.usage(), member.breaker.state()) for member in pool.members]
    rates = [usage.tokens_used / usage.window_seconds for _, usage, _ in looks]
    capacities = [member.limits.tokens / member.limits.window_seconds for member, _, _ in looks]
    views = []
    for (member, usage, breaker), rate, capacity in zip(looks, rates, capacities, strict=True):
        views.append(
            DeploymentView(
                name=member.name, kind=member.deployment.kind, priority=member.priority, weight=member.weight,
                window_seconds=usage.window_seconds, requests_used=usage.requests_used,
                requests_limit=usage.requests_limit, tokens_used=usage.tokens_used, tokens_limit=usage.tokens_limit,
                cooldown_seconds=round(usage.cooldown_seconds, 3), breaker=breaker.state,
                breaker_seconds=round(breaker.wait, 3), breaker_reason=breaker.reason, blocked=breaker.blocked,
                share=round(rate / sum(rates), 4) if sum(rates) else 0.0, capacity_share=round(capacity / sum(capacities), 4),
            )  # fmt: skip
        )
    return views


def job_deployments(job_id: int) -> dict[str, dict[str, int]]:
    """Which deployments served the job's groups: ``{name: {"groups": n, "tokens": t}}`` ({} without a pool)."""
    done = EmbeddingGroup.objects.filter(job_id=job_id, state=GroupState.DONE).exclude(deployment="")
    rows = done.values("deployment").annotate(groups=Count("id"), tokens=Sum("tokens")).order_by("deployment")
    return {row["deployment"]: {"groups": row["groups"], "tokens": row["tokens"] or 0} for row in rows}
