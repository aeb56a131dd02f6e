"""The one place workers read Django settings: the provider, the shared limiter, the group budget."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from django.conf import settings

from ratelimit import Limiter, Limits, fingerprint

from .catalog import MAX_TOKENS_PER_REQUEST
from .providers import ProviderConfig

OPENAI_URL = "https://api.openai.com/v1"
GROUP_SHARE_OF_TPM = 100  # a group of 1% of TPM: at most ~0.5% of the window left unused
REQUEST_HEADROOM = 2  # groups big enough that filling TPM takes at most half the RPM


class ConfigurationError(RuntimeError):
    """No usable provider is configured."""


def provider_config(model: str | None = None, dimensions: int | None = None) -> ProviderConfig:
    model = model or settings.TOLLGATE_MODEL
    dimensions = dimensions or settings.TOLLGATE_DIMENSIONS
    timeout = settings.TOLLGATE_REQUEST_TIMEOUT
    if settings.AZURE_OPENAI_ENDPOINT:
        return ProviderConfig(
            model=model,
            dimensions=dimensions,
            api_key=settings.AZURE_OPENAI_API_KEY or settings.OPENAI_API_KEY,
            azure_endpoint=settings.AZURE_OPENAI_ENDPOINT,
            azure_api_version=settings.OPENAI_API_VERSION,
            timeout=timeout,
        )
    if not (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL):
        raise ConfigurationError("no provider configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for another server)")
    return ProviderConfig(
        model=model,
        dimensions=dimensions,
        api_key=settings.OPENAI_API_KEY or "not-needed",
        base_url=settings.OPENAI_BASE_URL or None,
        timeout=timeout,
    )


def limits() -> Limits:
    """The configured limits, with the window lengthened by the safety margin (see settings)."""
    return Limits(
        requests=settings.TOLLGATE_RPM,
        tokens=settings.TOLLGATE_TPM,
        window_seconds=settings.TOLLGATE_WINDOW_SECONDS + settings.TOLLGATE_SAFETY_SECONDS,
    )


def shared_limiter(model: str) -> Limiter:
    """This process's handle on the limit every worker shares (keyed by account, never by key)."""
    config = provider_config(model)
    account = fingerprint(config.api_key, config.azure_endpoint or config.base_url or OPENAI_URL)
    return _limiter(settings.REDIS_URL, account, model, limits(), settings.TOLLGATE_BURST or None)


@functools.cache
def _limiter(redis_url: str, account: str, model: str, configured: Limits, burst: float | None) -> Limiter:
    return Limiter.from_url(redis_url, account=account, model=model, limits=configured, burst=burst)


def group_budget() -> int:
    """Tokens per request group: configured, else a hundredth of TPM (see below); never above TPM or the API's cap.

    Small groups leave little of the window unused: a group is admitted only when it fits whole,
    so on average half a group's worth of the limit waits. But never so small that the request
    limit binds before the token limit: at least two windows' worth of requests' share.
    """
    limit = limits()
    budget = settings.TOLLGATE_GROUP_TOKENS or max(
        limit.tokens // GROUP_SHARE_OF_TPM, math.ceil(REQUEST_HEADROOM * limit.tokens / limit.requests)
    )
    return max(1, min(budget, limit.tokens, MAX_TOKENS_PER_REQUEST))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # for 5xx, timeouts and dropped connections
    max_backoff: float  # seconds


def retry_policy() -> RetryPolicy:
    return RetryPolicy(settings.TOLLGATE_MAX_ATTEMPTS, settings.TOLLGATE_MAX_BACKOFF_SECONDS)


def stall_seconds() -> float:
    return settings.TOLLGATE_STALL_SECONDS or max(10.0, 2 * settings.TOLLGATE_WINDOW_SECONDS)


def bulk_reserve() -> float:
    """The share of each limit a backfill leaves free for interactive work."""
    return settings.TOLLGATE_BULK_RESERVE


def max_countdown() -> float:
    return settings.TOLLGATE_MAX_COUNTDOWN_SECONDS


def interactive_max_tokens() -> int:
    """Jobs up to this many tokens take the interactive lane."""
    return settings.TOLLGATE_INTERACTIVE_MAX_TOKENS
