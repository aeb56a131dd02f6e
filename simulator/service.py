"""The simulator's state and the decision flow of one embeddings (or chat) request, free of HTTP.

Order, as the real API behaves: authenticate (401), quota (429 insufficient_quota), model
(404), validation (400), request larger than TPM (429), limits (429), then the answer.
A request that fails validation or is too large still takes a request slot: failed
requests count toward RPM. A refused (429) request takes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import time
from dataclasses import dataclass
from typing import Any

from simulator.batches import BatchService
from simulator.chat import ChatRequest, chat_model_of, parse_chat
from simulator.config import CHAT_MODELS, Knobs, SimulatorConfig
from simulator.errors import (
    AuthenticationError,
    ConfigError,
    InjectedFaultError,
    InsufficientQuotaError,
    InvalidRequestError,
    SimulatorError,
    rate_limit_reached,
    request_too_large,
)
from simulator.files import FileStore
from simulator.headers import go_duration, ratelimit_headers, retry_headers
from simulator.inputs import EmbeddingRequest, model_of, parse_request
from simulator.limits import Limiter, Limits, Refusal, make_limiter
from simulator.stats import Stats
from simulator.vectors import embed_many, encode_vector

__all__ = ["Simulator", "Admitted", "AdmittedChat", "LIMIT_FIELDS"]

LIMIT_FIELDS = (
    "rpm", "tpm", "rpd", "batch_queue_tokens", "chat_rpm", "chat_tpm", "time_scale", "algorithm", "token_estimator",
    "chars_per_token",
)


@dataclass(frozen=True)
class Admitted:
    """A request that passed every check: what to embed and the headers to send back."""

    request: EmbeddingRequest
    headers: dict[str, str]


@dataclass(frozen=True)
class AdmittedChat:
    """A chat request that passed every check, counted as its prompt + ``max_tokens``."""

    request: ChatRequest
    headers: dict[str, str]


def key_fingerprint(api_key: str | None) -> str:
    """A short, stable name for a key: limits and stats are per key, but keys are never shown."""
    if not api_key:
        return "anonymous"
    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:10]


class Simulator:
    """Limiter + stats + knobs behind one object, so the HTTP layer stays a few lines per route.

    Example::

        sim = Simulator(SimulatorConfig.for_tier("free", time_scale=60))
        admitted = sim.admit(authorization="Bearer sk-x", body={"model": "text-embedding-3-small", "input": "hi"})
    """

    def __init__(self, config: SimulatorConfig):
        config.validate()
        self.config = config
        self.rng = random.Random(config.seed)
        self._build()
        self.files = FileStore()
        self.batches = BatchService(self)

    def _build(self) -> None:
        self.reset_limits()
        config = self.config
        self.stats = Stats(
            window_seconds=config.window_seconds, day_seconds=config.day_seconds, track_day=config.rpd is not None
        )

    def reset_limits(self) -> None:
        """Forget every key's usage (fresh windows/full buckets); stats are kept."""
        config = self.config
        limits = Limits(config.rpm, config.tpm, config.rpd, config.window_seconds, config.day_seconds)
        self.limiter: Limiter = make_limiter(config.algorithm, limits)
        self.chat_limiters: dict[str, Limiter] = {
            name: make_limiter(config.algorithm, Limits(*config.chat_limits(name), None, config.window_seconds))
            for name in CHAT_MODELS
        }

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply an admin update: knobs take effect at once; a limit change resets the limiter,
        and a time-scale change resets the stats too (their window length changed)."""
        knob_names = {f.name for f in dataclasses.fields(Knobs)}
        unknown = set(changes) - knob_names - set(LIMIT_FIELDS)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        knobs = dataclasses.replace(self.config.knobs, **{k: v for k, v in changes.items() if k in knob_names})
        limit_changes = {k: v for k, v in changes.items() if k in LIMIT_FIELDS}
        try:
            candidate = dataclasses.replace(self.config, knobs=knobs, **limit_changes)
            candidate.validate()
        except TypeError as error:
            raise ConfigError(str(error)) from None
        scale_changed = candidate.time_scale != self.config.time_scale or candidate.rpd != self.config.rpd
        self.config = candidate
        if scale_changed:
            self._build()
        elif limit_changes:
            self.reset_limits()
        return self.config.public()

    def authenticate(self, authorization: str | None) -> str | None:
        """The caller's key; any key (or none) when no keys are configured."""
        key = None
        if authorization and authorization[:7].lower() == "bearer ":
            key = authorization[7:].strip() or None
        if self.config.api_keys:
            if key is None:
                raise AuthenticationError.missing()
            if key not in self.config.api_keys:
                raise AuthenticationError.incorrect(key)
        return key

    def owner(self, authorization: str | None) -> str:
        """Whose files and batches a request may see: its key's fingerprint (401 for a bad key)."""
        return key_fingerprint(self.authenticate(authorization))

    def check_file_fault(self) -> None:
        """A 500 on a ``/v1/files`` call with probability ``file_error_rate``."""
        rate = self.config.knobs.file_error_rate
        if rate and self.rng.random() < rate:
            raise InjectedFaultError(500)

    def admit(self, *, authorization: str | None, body: Any) -> Admitted:
        """Run every check for one request; raises the ``SimulatorError`` the API would answer."""
        key = self.authenticate(authorization)
        if self.config.knobs.insufficient_quota:
            raise InsufficientQuotaError()
        spec = model_of(body)
        group = f"{key_fingerprint(key)}:{spec.name}"
        config = self.config
        try:
            request = parse_request(body, estimator=config.token_estimator, chars_per_token=config.chars_per_token)
        except InvalidRequestError as error:
            error.headers.update(self._charge_failed(group, spec.name))
            raise
        if config.tpm is not None and request.charged_tokens > config.tpm:
            headers = self._charge_failed(group, spec.name)
            raise request_too_large(
                model=spec.name, organization=config.organization, limit=config.tpm,
                requested=request.charged_tokens, headers=headers,
            )
        now = time.monotonic()
        decision = self.limiter.acquire(group, tokens=request.charged_tokens, now=now)
        headers = ratelimit_headers(decision.usage)
        if decision.refusal is not None:
            raise self._refused(spec.name, decision.refusal, headers)
        self.stats.record_admission(group, request.charged_tokens, now)
        return Admitted(request, headers)

    def admit_chat(self, *, authorization: str | None, body: Any) -> AdmittedChat:
        """The chat request's checks, in the embeddings' order; its own model's limits count prompt + max_tokens."""
        key = self.authenticate(authorization)
        if self.config.knobs.insufficient_quota:
            raise InsufficientQuotaError()
        spec = chat_model_of(body)
        group, limiter = f"{key_fingerprint(key)}:{spec.name}", self.chat_limiters[spec.name]
        try:
            request = parse_chat(body, context_tokens=self.config.knobs.chat_context_tokens)
        except InvalidRequestError as error:
            error.headers.update(self._charge_failed(group, spec.name, limiter))
            raise
        charged = request.prompt_tokens + request.max_tokens
        tpm = limiter.limits.tpm
        if tpm is not None and charged > tpm:
            headers = self._charge_failed(group, spec.name, limiter)
            raise request_too_large(
                model=spec.name, organization=self.config.organization, limit=tpm, requested=charged, headers=headers
            )
        now = time.monotonic()
        decision = limiter.acquire(group, tokens=charged, now=now)
        headers = ratelimit_headers(decision.usage)
        if decision.refusal is not None:
            raise self._refused(spec.name, decision.refusal, headers)
        self.stats.record_admission(group, charged, now)
        return AdmittedChat(request, headers)

    def _charge_failed(self, group: str, model: str, limiter: Limiter | None = None) -> dict[str, str]:
        """Count a failed request toward RPM; 429 instead if there is no slot for it."""
        now = time.monotonic()
        decision = (limiter or self.limiter).acquire(group, tokens=0, now=now)
        headers = ratelimit_headers(decision.usage)
        if decision.refusal is not None:
            raise self._refused(model, decision.refusal, headers)
        self.stats.record_admission(group, 0, now)
        return headers

    def _refused(self, model: str, refusal: Refusal, headers: dict[str, str]) -> SimulatorError:
        return rate_limit_reached(
            model=model, organization=self.config.organization, kind=refusal.kind, period=refusal.period,
            limit=refusal.limit, used=refusal.used, requested=refusal.requested,
            retry_after=refusal.retry_after, wait_text=go_duration(refusal.retry_after),
            headers={**headers, **retry_headers(refusal.retry_after)},
        )

    def render(self, request: EmbeddingRequest) -> dict[str, Any]:
        """The response body, results in input order with their ``index``."""
        model, fmt = request.model.name, request.encoding_format
        knobs = self.config.knobs
        dimensions = request.model.dimensions if knobs.ignore_dimensions else request.dimensions
        vectors = embed_many(request.contents, model=model, dimensions=dimensions, kind=knobs.vectors)
        if knobs.fewer_vectors:
            vectors = vectors[: max(0, len(vectors) - knobs.fewer_vectors)]
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": encode_vector(vector, fmt)}
                for i, vector in enumerate(vectors)
            ],
            "model": model,
            "usage": {"prompt_tokens": request.usage_tokens, "total_tokens": request.usage_tokens},
        }

    def describe(self) -> dict[str, Any]:
        """``/stats``: the stats snapshot plus the limits it should be judged against."""
        config = self.config
        snapshot = self.stats.snapshot()
        snapshot.update(
            limits={"rpm": config.rpm, "tpm": config.tpm, "rpd": config.rpd},
            chat_limits={name: dict(zip(("rpm", "tpm"), config.chat_limits(name))) for name in CHAT_MODELS},
            tier=config.tier,
            algorithm=config.algorithm,
            token_estimator=config.token_estimator,
            batch_queue_tokens=config.batch_queue_tokens,
            batch_enqueued_tokens=self.batches.enqueued(),
            time_scale=config.time_scale,
            window_seconds=config.window_seconds,
            day_seconds=config.day_seconds,
            utilization={
                "requests": snapshot["max_requests_in_window"] / config.rpm if config.rpm else None,
                "tokens": snapshot["max_tokens_in_window"] / config.tpm if config.tpm else None,
            },
        )
        return snapshot
