"""The shared limiter's window and history, read together for the charts, metrics and status."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from project.embeddings import selectors
from project.provider import shared_limiter
from ratelimit import History

__all__ = ["LimiterView", "limiter_models", "limiter_view"]

CHART_WINDOWS = 20  # windows a chart shows


@dataclass(frozen=True)
class LimiterView:
    """The window now (:class:`selectors.LimitsUsage`) and the buckets before it, for one model."""

    usage: selectors.LimitsUsage
    history: History
    account: str  # the limiter's one-way fingerprint of key and endpoint (never the key)


def limiter_view(*, model: str | None = None, windows: int | None = CHART_WINDOWS) -> LimiterView:
    """Two reads of the shared limiter (history, then usage); ``windows=None``: all the history kept.

    The history is read first, so its totals never count an admission the window does not
    hold yet: a reader comparing two views can bound what changed in between.

    Raises :class:`providers.ConfigurationError` when no provider is configured and
    :class:`ratelimit.LimiterUnavailable` when Redis does not answer.
    """
    model = model or settings.TOLLGATE_MODEL
    selectors.require_configured_model(model)  # before a limiter is built for the name
    limiter = shared_limiter(model)
    history = limiter.history(windows=windows)
    return LimiterView(selectors.limits_usage(model=model), history, limiter.account)


def limiter_models() -> list[str]:
    """The configured model and those of active jobs: the limiter keys worth reporting."""
    return list(selectors.configured_models())
