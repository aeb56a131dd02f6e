"""The configured provider: Django settings turned into ``providers`` and ``ratelimit`` objects.

The one place that reads the provider's and the limit's settings; ``providers/`` and
``ratelimit/`` take what it builds as arguments. Used by the services (plan, estimate, search,
the limiter's gauges) and by the workers alike, so all of them agree.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from django.conf import settings

from providers import ProviderConfig, client_for, encoding_for_model
from providers.catalog import CHAT_MODELS, TIER1_BATCH_QUEUE_TOKENS, chat_model_info
from providers.gate import Waiting
from providers.planning import group_budget as _group_budget
from providers.pool import Deployment, Member, Pool
from ratelimit import BatchQueue, Breaker, BreakerPolicy, Limiter, Limits

GATE_WAIT_IN_PLACE = Waiting().most + Waiting().inline  # seconds the gate may sleep before the call

__all__ = [
    "BATCH_SHARE_OF_QUEUE",
    "BATCH_WINDOW_HOURS",
    "RetryPolicy",
    "batch_auto_tokens",
    "batch_fallback",
    "batch_poll_seconds",
    "batch_queue",
    "batch_queue_tokens",
    "batch_tokens",
    "bulk_reserve",
    "chat_config",
    "chat_limiter",
    "chat_limits",
    "chat_max_tokens",
    "chat_model",
    "group_budget",
    "group_tokens",
    "interactive_max_tokens",
    "is_configured",
    "limiter_for",
    "claim_seconds",
    "lease_expirations",
    "fair_share_depth",
    "owner_weights",
    "lease_seconds",
    "limits",
    "max_countdown",
    "provider_config",
    "provider_pool",
    "retry_policy",
    "shared_limiter",
    "stall_seconds",
    "warm_up",
]


def is_configured() -> bool:
    """Whether a real provider (or a compatible URL, or a pool) is set; otherwise commands run the simulator."""
    return bool(
        settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL or settings.AZURE_OPENAI_ENDPOINT or settings.TOLLGATE_POOL
    )


def provider_config(model: str | None = None, dimensions: int | None = None) -> ProviderConfig:
    """Raises :class:`providers.ConfigurationError` when no provider is configured.

    With a pool, the first deployment by priority: what callers that use one provider (a search's
    query, the batch lane) call; the workers' groups go through the whole pool (:func:`provider_pool`).
    """
    if settings.TOLLGATE_POOL:
        return _pool(*_pool_key()).members[0].config
    return ProviderConfig.from_values(
        model=model or settings.TOLLGATE_MODEL,
        dimensions=dimensions or settings.TOLLGATE_DIMENSIONS,
        openai_api_key=settings.OPENAI_API_KEY,
        openai_base_url=settings.OPENAI_BASE_URL,
        azure_endpoint=settings.AZURE_OPENAI_ENDPOINT,
        azure_api_key=settings.AZURE_OPENAI_API_KEY,
        azure_api_version=settings.OPENAI_API_VERSION,
        timeout=settings.TOLLGATE_REQUEST_TIMEOUT,
    )


def warm_up() -> None:
    """Load what every group needs (the model's tokenizer, the provider's client) before the first one."""
    encoding_for_model(settings.TOLLGATE_MODEL)
    if is_configured():
        client_for(provider_config())


def limits() -> Limits:
    """The configured limits, with the window lengthened by the safety margin (see settings)."""
    return Limits(
        requests=settings.TOLLGATE_RPM,
        tokens=settings.TOLLGATE_TPM,
        window_seconds=settings.TOLLGATE_WINDOW_SECONDS + settings.TOLLGATE_SAFETY_SECONDS,
        requests_per_day=settings.TOLLGATE_RPD or None,
    )


def shared_limiter(model: str) -> Limiter:
    """This process's handle on the limit every worker shares (keyed by account, never by key).

    With a pool, the first deployment's (as :func:`provider_config`); each has its own (:func:`provider_pool`).
    """
    if settings.TOLLGATE_POOL:
        return _pool(*_pool_key()).members[0].limiter
    account = provider_config(model).account()
    return _limiter(settings.REDIS_URL, account, model, limits(), settings.TOLLGATE_BURST or None)


def provider_pool(model: str | None = None, dimensions: int | None = None) -> Pool:
    """The deployments a group may go to: the pool of ``TOLLGATE_DEPLOYMENTS``, else the one provider.

    Built once per process (its limiters and breakers share one Redis client each).
    """
    if settings.TOLLGATE_POOL:
        return _pool(*_pool_key())
    config = provider_config(model, dimensions)
    return Pool.single(config, shared_limiter(config.model))


def breaker_policy() -> BreakerPolicy:
    return BreakerPolicy(
        failures=settings.TOLLGATE_BREAKER_FAILURES,
        open_seconds=settings.TOLLGATE_BREAKER_SECONDS,
        blocked_seconds=settings.TOLLGATE_BLOCKED_SECONDS,
        probe_seconds=settings.TOLLGATE_REQUEST_TIMEOUT + GATE_WAIT_IN_PLACE,
    )


def _pool_key() -> tuple:
    return (settings.REDIS_URL, settings.TOLLGATE_POOL, settings.TOLLGATE_BURST or None, breaker_policy(),
            settings.TOLLGATE_SAFETY_SECONDS, settings.TOLLGATE_REQUEST_TIMEOUT)  # fmt: skip


@functools.cache
def _pool(redis_url: str, specs: tuple, burst: float | None, policy: BreakerPolicy, safety: float, timeout: float) -> Pool:
    members = []
    for spec in specs:
        common = {"model": spec.model, "dimensions": spec.dimensions, "api_key": spec.api_key, "timeout": timeout}
        if spec.kind == "azure":
            config = ProviderConfig(**common, azure_endpoint=spec.base_url, azure_api_version=spec.api_version,
                                    azure_deployment=spec.deployment)  # fmt: skip
        else:
            config = ProviderConfig(**common, base_url=spec.base_url)
        own = Limits(requests=spec.rpm, tokens=spec.tpm, window_seconds=spec.window_seconds + safety,
                     requests_per_day=spec.rpd)  # fmt: skip
        limiter = _limiter(redis_url, config.account(), spec.model, own, burst)
        breaker = Breaker(limiter.storage.client, account=config.account(), model=spec.model, policy=policy)
        deployment = Deployment(spec.name, config, own, weight=spec.weight, priority=spec.priority)
        members.append(Member(deployment, limiter, breaker))
    members.sort(key=lambda member: member.priority)  # stable: the file's order within a priority
    return Pool(members)


@functools.cache
def _limiter(redis_url: str, account: str, model: str, configured: Limits, burst: float | None) -> Limiter:
    return Limiter.from_url(redis_url, account=account, model=model, limits=configured, burst=burst)


def group_tokens() -> int:
    """``TOLLGATE_GROUP_TOKENS``: a group size set by hand (0: sized for the limit)."""
    return settings.TOLLGATE_GROUP_TOKENS


def group_budget(*, short: bool = False) -> int:
    """Tokens per request group (``TOLLGATE_GROUP_TOKENS``, else sized for the limit and a ``short`` job's
    burst; see providers/planning.py). With a pool, never more than half the smallest deployment's
    window, so every group fits every deployment, twice."""
    budget = _group_budget(limits(), configured=settings.TOLLGATE_GROUP_TOKENS, short=short, reserve=bulk_reserve())
    if settings.TOLLGATE_POOL and not settings.TOLLGATE_GROUP_TOKENS:
        smallest = min(spec.tpm for spec in settings.TOLLGATE_POOL)
        budget = max(1, min(budget, int(smallest * (1 - bulk_reserve())) // 2))
    return budget


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int  # for 5xx, timeouts and dropped connections
    max_backoff: float  # seconds


def retry_policy() -> RetryPolicy:
    return RetryPolicy(settings.TOLLGATE_MAX_ATTEMPTS, settings.TOLLGATE_MAX_BACKOFF_SECONDS)


def stall_seconds() -> float:
    return settings.TOLLGATE_STALL_SECONDS or max(10.0, 2 * settings.TOLLGATE_WINDOW_SECONDS)


def lease_seconds() -> float:
    """How long a claim holds: ``TOLLGATE_LEASE_SECONDS``, else a whole request (its timeout), the
    gate's waits in place and the stall time, so a request in flight never loses its claim."""
    configured = settings.TOLLGATE_LEASE_SECONDS
    return configured or settings.TOLLGATE_REQUEST_TIMEOUT + GATE_WAIT_IN_PLACE + stall_seconds()


def claim_seconds() -> float:
    """How long a fresh claim holds before its task is about to call (``group_calling`` then
    extends it to :func:`lease_seconds`): the gate's waits in place and the stall time, so a task
    that dies before the call leaves its group to the sweep soon."""
    return min(lease_seconds(), GATE_WAIT_IN_PLACE + stall_seconds())


def lease_expirations() -> int:
    """Leases a group may lose (its worker died or hung) before its job pauses."""
    return settings.TOLLGATE_LEASE_EXPIRATIONS


def fair_share_depth() -> int:
    """Tokens in flight the active owners share (``TOLLGATE_FAIR_SHARE_WINDOWS`` windows of the limit; 0: off)."""
    return int(settings.TOLLGATE_FAIR_SHARE_WINDOWS * limits().tokens)


def owner_weights() -> dict[str, float]:
    """Each owner's weight in the fair share, by user name (``TOLLGATE_OWNER_WEIGHTS``); 1 when not named."""
    return dict(settings.TOLLGATE_OWNER_WEIGHTS)


def bulk_reserve() -> float:
    """The share of each limit a backfill leaves free for interactive work."""
    return settings.TOLLGATE_BULK_RESERVE


def max_countdown() -> float:
    return settings.TOLLGATE_MAX_COUNTDOWN_SECONDS


def interactive_max_tokens() -> int:
    """Jobs up to this many tokens take the interactive lane."""
    return settings.TOLLGATE_INTERACTIVE_MAX_TOKENS


def sweep_seconds() -> float:
    """How often Celery beat runs the sweep."""
    return settings.TOLLGATE_SWEEP_SECONDS


# --- the batch lane -------------------------------------------------------------------------------

BATCH_WINDOW_HOURS = 24.0  # the Batch API's only completion window
BATCH_SHARE_OF_QUEUE = 4  # a batch of a quarter of the queue limit: one finishing leaves room at once
AUTO_WINDOWS = 10  # `--lane auto` takes the batch lane from ten windows of TPM


def batch_queue_tokens() -> int:
    """The Batch API's enqueued-token limit for the model (``TOLLGATE_BATCH_QUEUE_TOKENS``, else Tier 1's)."""
    return settings.TOLLGATE_BATCH_QUEUE_TOKENS or TIER1_BATCH_QUEUE_TOKENS


def batch_queue(model: str) -> BatchQueue:
    """This process's handle on the enqueued-token limit every host shares (keyed by account, never by key)."""
    account = provider_config(model).account()
    return _batch_queue(settings.REDIS_URL, account, model, batch_queue_tokens())


@functools.cache
def _batch_queue(redis_url: str, account: str, model: str, limit: int) -> BatchQueue:
    return BatchQueue.from_url(redis_url, account=account, model=model, limit_tokens=limit)


def batch_tokens() -> int:
    """Tokens per batch: ``TOLLGATE_BATCH_TOKENS``, else a quarter of the queue limit; never above it."""
    return min(settings.TOLLGATE_BATCH_TOKENS or batch_queue_tokens() // BATCH_SHARE_OF_QUEUE, batch_queue_tokens())


def batch_fallback() -> str:
    """What an expired or cancelled batch's unrun lines do: ``resubmit`` or go to the ``sync`` lane."""
    return settings.TOLLGATE_BATCH_FALLBACK


def batch_poll_seconds() -> float:
    """How often Celery beat polls the batches (and submits what waits for room)."""
    return settings.TOLLGATE_BATCH_POLL_SECONDS


def batch_auto_tokens() -> int:
    """The job size (tokens to send) from which ``--lane auto`` takes the batch lane."""
    return settings.TOLLGATE_BATCH_AUTO_TOKENS or AUTO_WINDOWS * settings.TOLLGATE_TPM


# --- chat (ask) ------------------------------------------------------------------------------------


def chat_model(model: str | None = None) -> str:
    """The chat model an ask uses: ``model``, else ``TOLLGATE_CHAT_MODEL``."""
    return model or settings.TOLLGATE_CHAT_MODEL


def chat_max_tokens() -> int:
    """``max_tokens`` of an answer: the room it is given, and what its admission counts beside the prompt."""
    return settings.TOLLGATE_CHAT_MAX_TOKENS


def chat_config(model: str | None = None) -> ProviderConfig:
    """The provider account for chat: the embeddings' own (one account, a limit per model).

    With a pool (its deployments serve the embedding model), the first deployment's account by
    priority, asked for the chat model; on Azure, the deployment named after the chat model (a
    pool's deployment path names the embedding model's deployment).
    """
    chat = chat_model(model)
    if settings.TOLLGATE_POOL:
        first = _pool(*_pool_key()).members[0].config
        return dataclasses.replace(first, model=chat, azure_deployment=None)
    return provider_config(chat)


def chat_limits(model: str | None = None) -> Limits:
    """The chat model's limits: ``TOLLGATE_CHAT_RPM``/``TPM``, else its Tier 1 figures; the embeddings' window.

    Raises :class:`providers.UnknownChatModel` for a model the catalog does not know.
    """
    tier = chat_model_info(chat_model(model)).tiers["1"]
    return Limits(
        requests=settings.TOLLGATE_CHAT_RPM or tier.rpm,
        tokens=settings.TOLLGATE_CHAT_TPM or tier.tpm,
        window_seconds=settings.TOLLGATE_WINDOW_SECONDS + settings.TOLLGATE_SAFETY_SECONDS,
    )


def chat_limiter(model: str | None = None) -> Limiter:
    """The chat model's shared limit, keyed like the embeddings' by (account, model)."""
    model = chat_model(model)
    configured = chat_limits(model)  # an unknown model raises before a limiter is built for its name
    return _limiter(settings.REDIS_URL, chat_config(model).account(), model, configured, settings.TOLLGATE_BURST or None)


def limiter_for(model: str) -> Limiter:
    """The shared limiter of ``model``, a chat model's or an embedding model's (gauges, charts, metrics)."""
    return chat_limiter(model) if model in CHAT_MODELS else shared_limiter(model)
