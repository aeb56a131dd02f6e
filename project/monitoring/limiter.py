"""The shared limiter's window and history, read together for the charts, metrics and status."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings

from project.embeddings.models import ACTIVE_STATUSES, EmbeddingJob
from project.errors import ModelNotConfigured
from project.provider import bulk_reserve, limiter_for
from providers import CHAT_MODELS
from ratelimit import History, Usage

__all__ = [
    "LimiterView",
    "LimitsUsage",
    "chat_models",
    "configured_models",
    "limiter_models",
    "limiter_view",
    "limits_usage",
    "require_configured_model",
]

CHART_WINDOWS = 20  # windows a chart shows


@dataclass(frozen=True, kw_only=True)
class LimitsUsage(Usage):
    """The limiter's :class:`ratelimit.Usage`, with the model it is for and the backfills' reserve."""

    model: str
    bulk_reserve: float

    @property
    def requests_percent(self) -> float:
        return round(100.0 * self.requests_used / self.requests_limit, 1) if self.requests_limit else 0.0

    @property
    def tokens_percent(self) -> float:
        return round(100.0 * self.tokens_used / self.tokens_limit, 1) if self.tokens_limit else 0.0


def configured_models() -> tuple[str, ...]:
    """The models whose shared limit can be read: the configured one, those of active jobs, and the chat model.

    One limiter (and Redis pool) each, never one per name a caller asks for.
    """
    active = EmbeddingJob.objects.filter(status__in=ACTIVE_STATUSES).values_list("model", flat=True).distinct()
    return tuple(sorted({settings.TOLLGATE_MODEL, *active, *chat_models()}))


def chat_models() -> tuple[str, ...]:
    """The chat model asks use, when the catalog knows its limits (an unknown one is the ask's to refuse)."""
    return (settings.TOLLGATE_CHAT_MODEL,) if settings.TOLLGATE_CHAT_MODEL in CHAT_MODELS else ()


def require_configured_model(model: str) -> None:
    """Raise :class:`ModelNotConfigured` unless ``model``'s limit may be read (:func:`configured_models`)."""
    if model not in configured_models():
        raise ModelNotConfigured(model)


def limits_usage(*, model: str | None = None) -> LimitsUsage:
    """The shared limiter's window right now (every worker's admissions), read-only.

    Raises :class:`ModelNotConfigured` for another model than the configured one, and
    :class:`providers.ConfigurationError` when no provider is configured (no limiter key).
    """
    model = model or settings.TOLLGATE_MODEL
    require_configured_model(model)
    usage = limiter_for(model).usage()
    return LimitsUsage(
        **{**asdict(usage), "cooldown_seconds": round(usage.cooldown_seconds, 3)},
        model=model,
        bulk_reserve=bulk_reserve(),
    )


@dataclass(frozen=True)
class LimiterView:
    """The window now (:class:`LimitsUsage`) and the buckets before it, for one model."""

    usage: LimitsUsage
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
    require_configured_model(model)  # before a limiter is built for the name
    limiter = limiter_for(model)
    history = limiter.history(windows=windows)
    return LimiterView(limits_usage(model=model), history, limiter.account)


def limiter_models() -> list[str]:
    """The configured model and those of active jobs: the limiter keys worth reporting."""
    return list(configured_models())
