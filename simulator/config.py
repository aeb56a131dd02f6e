"""What a simulator serves: models, tier presets, limits, time scale and the run-time knobs.

Limits are per API key per model, like OpenAI's per-organization limits. ``time_scale`` K
shrinks every window by K (a "minute" lasts 60/K s, a "day" 86400/K s) while the limits per
window stay the same, so a test sees the real ratios in seconds instead of minutes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from simulator.errors import ConfigError

__all__ = [
    "ModelSpec",
    "MODELS",
    "ChatModelSpec",
    "CHAT_MODELS",
    "TIERS",
    "TierLimits",
    "Knobs",
    "SimulatorConfig",
    "MAX_INPUTS",
    "MAX_TOKENS_PER_REQUEST",
    "ALGORITHMS",
    "ESTIMATORS",
    "VECTOR_KINDS",
]

MAX_INPUTS = 2048  # inputs in one request
MAX_TOKENS_PER_REQUEST = 300_000  # tokens summed over one request's inputs
ALGORITHMS = ("sliding", "bucket")
ESTIMATORS = ("tiktoken", "chars")
VECTOR_KINDS = ("semantic", "exact")  # see vectors.py


@dataclass(frozen=True)
class ModelSpec:
    """An embedding model: native vector size, context length, whether ``dimensions`` works."""

    name: str
    dimensions: int
    max_input_tokens: int
    supports_dimensions: bool


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("text-embedding-3-small", 1536, 8192, True),
        ModelSpec("text-embedding-3-large", 3072, 8192, True),
        ModelSpec("text-embedding-ada-002", 1536, 8191, False),
    )
}


@dataclass(frozen=True)
class ChatModelSpec:
    """A chat model: its context (prompt + answer), its longest answer, its per-tier (RPM, TPM)."""

    name: str
    context_tokens: int
    max_output_tokens: int
    tiers: dict[str, tuple[int, int]]


# OpenAI's published per-minute limits for the chat models (2025), per tier: (RPM, TPM).
CHAT_MODELS: dict[str, ChatModelSpec] = {
    spec.name: spec
    for spec in (
        ChatModelSpec("gpt-4o-mini", 128_000, 16_384, {
            "free": (3, 40_000), "1": (500, 200_000), "2": (5_000, 2_000_000), "3": (5_000, 4_000_000),
            "4": (10_000, 10_000_000), "5": (30_000, 150_000_000),
        }),
        ChatModelSpec("gpt-4o", 128_000, 16_384, {
            "free": (3, 10_000), "1": (500, 30_000), "2": (5_000, 450_000), "3": (5_000, 800_000),
            "4": (10_000, 2_000_000), "5": (10_000, 30_000_000),
        }),
    )
}  # fmt: skip


@dataclass(frozen=True)
class TierLimits:
    """Published per-model limits of one usage tier; ``None`` means no such limit."""

    rpm: int
    tpm: int
    rpd: int | None
    batch_queue_tokens: int | None = None


# OpenAI's published limits for text-embedding-3-* (February 2025); the batch queue is the
# enqueued-token limit (none published for the free tier, so none is enforced there).
TIERS: dict[str, TierLimits] = {
    "free": TierLimits(rpm=100, tpm=40_000, rpd=2_000),
    "1": TierLimits(rpm=3_000, tpm=1_000_000, rpd=None, batch_queue_tokens=3_000_000),
    "2": TierLimits(rpm=5_000, tpm=1_000_000, rpd=None, batch_queue_tokens=20_000_000),
    "3": TierLimits(rpm=5_000, tpm=5_000_000, rpd=None, batch_queue_tokens=100_000_000),
    "4": TierLimits(rpm=10_000, tpm=5_000_000, rpd=None, batch_queue_tokens=500_000_000),
    "5": TierLimits(rpm=10_000, tpm=10_000_000, rpd=None, batch_queue_tokens=4_000_000_000),
}


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be between 0 and 1, got {value}")


@dataclass
class Knobs:
    """Realism knobs, changeable while serving (``POST /admin/config``).

    Latency of a success is ``latency_ms + latency_per_token_ms * tokens`` plus a uniform
    jitter of up to ``latency_jitter_ms``. Fault rates are probabilities per request, drawn in
    order: drop, hang, 500, 503. A hang sleeps ``hang_seconds`` (past the client's timeout)
    and then answers normally. ``vectors`` chooses semantic or exact-text vectors.

    A batch takes ``batch_seconds`` plus its tokens / ``batch_tokens_per_second`` (when not 0),
    both divided by the time scale. Batch faults, drawn once per batch or line: a line fails
    with a 400 body, a batch stalls part-done and expires at the end of its 24h window, a batch
    fails validation; ``file_error_rate`` is the probability of a 500 per ``/v1/files`` call.
    """

    latency_ms: float = 0.0
    latency_per_token_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_500_rate: float = 0.0
    error_503_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    drop_rate: float = 0.0
    insufficient_quota: bool = False
    vectors: str = "semantic"
    # A misbehaving compatible server: answer this many fewer vectors than inputs (the last
    # ones left out), or full-size vectors whatever ``dimensions`` asked for.
    fewer_vectors: int = 0
    ignore_dimensions: bool = False
    batch_seconds: float = 1800.0
    batch_window_seconds: float = 86_400.0  # the completion window ("24h"); shorter only to rehearse expiry
    batch_tokens_per_second: float = 0.0
    batch_line_error_rate: float = 0.0
    batch_expire_rate: float = 0.0
    batch_validation_failure_rate: float = 0.0
    file_error_rate: float = 0.0
    # Chat: the pause between an answer's streamed pieces (a word each; the first comes after the
    # latency), a context shorter than the model's (0: the model's own) to rehearse a 400 for
    # its length, and the two ways a provider declines: the model's refusal, the content filter.
    chat_piece_ms: float = 0.0
    chat_context_tokens: int = 0
    chat_refusal: bool = False
    chat_content_filter: bool = False

    def validate(self) -> None:
        """Refuse values that cannot mean anything (negative times, probabilities over 1)."""
        durations = ("latency_ms", "latency_per_token_ms", "latency_jitter_ms", "hang_seconds", "batch_tokens_per_second",
                     "chat_piece_ms", "chat_context_tokens")  # fmt: skip
        for name in durations:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if self.fewer_vectors < 0:
            raise ConfigError("fewer_vectors must not be negative")
        if self.batch_seconds <= 0:
            raise ConfigError("batch_seconds must be positive")
        if self.batch_window_seconds <= 0:
            raise ConfigError("batch_window_seconds must be positive")
        for name in ("error_500_rate", "error_503_rate", "hang_rate", "drop_rate", "batch_line_error_rate",
                     "batch_expire_rate", "batch_validation_failure_rate", "file_error_rate"):
            _check_rate(name, getattr(self, name))
        if self.vectors not in VECTOR_KINDS:
            raise ConfigError(f"vectors must be one of {', '.join(VECTOR_KINDS)}")


@dataclass
class SimulatorConfig:
    """Everything ``create_app`` needs. Limits of ``None`` (or 0) are not enforced.

    Example::

        config = SimulatorConfig.for_tier("1", time_scale=10, api_keys=frozenset({"sk-test"}))
    """

    rpm: int | None = 3_000
    tpm: int | None = 1_000_000
    rpd: int | None = None
    batch_queue_tokens: int | None = 3_000_000
    chat_rpm: int | None = None  # every chat model's requests per window; None: the tier's for each model
    chat_tpm: int | None = None  # every chat model's tokens per window (prompt + max_tokens); None: the tier's
    tier: str | None = "1"
    time_scale: float = 1.0
    algorithm: str = "sliding"
    token_estimator: str = "tiktoken"
    chars_per_token: float = 4.0
    api_keys: frozenset[str] = frozenset()
    organization: str = "org-simulator"
    seed: int | None = None
    knobs: Knobs = field(default_factory=Knobs)

    @classmethod
    def for_tier(cls, tier: str, **overrides: Any) -> SimulatorConfig:
        """A config with a tier's published limits; keyword arguments override any field."""
        key = tier.lower()
        if key not in TIERS:
            raise ConfigError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
        limits = TIERS[key]
        values: dict[str, Any] = {
            "rpm": limits.rpm, "tpm": limits.tpm, "rpd": limits.rpd, "batch_queue_tokens": limits.batch_queue_tokens,
            "tier": key,
        }
        values.update(overrides)
        config = cls(**values)
        config.validate()
        return config

    def chat_limits(self, model: str) -> tuple[int | None, int | None]:
        """(RPM, TPM) of a chat model: ``chat_rpm``/``chat_tpm`` when set, else its tier's (0: none)."""
        rpm, tpm = CHAT_MODELS[model].tiers.get(self.tier or "1", CHAT_MODELS[model].tiers["1"])
        return (self.chat_rpm if self.chat_rpm is not None else rpm) or None, (
            self.chat_tpm if self.chat_tpm is not None else tpm
        ) or None

    @property
    def window_seconds(self) -> float:
        """The length of a (scaled) minute."""
        return 60.0 / self.time_scale

    @property
    def day_seconds(self) -> float:
        """The length of a (scaled) day."""
        return 86_400.0 / self.time_scale

    def validate(self) -> None:
        """Refuse a config that cannot be served; normalizes 0 limits to ``None``."""
        for name in ("rpm", "tpm", "rpd", "batch_queue_tokens"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ConfigError(f"{name} must not be negative")
            if value == 0:
                setattr(self, name, None)
        for name in ("chat_rpm", "chat_tpm"):  # 0 stays 0: no limit, rather than the tier's
            if (getattr(self, name) or 0) < 0:
                raise ConfigError(f"{name} must not be negative")
        if self.time_scale <= 0:
            raise ConfigError("time_scale must be positive")
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm must be one of {', '.join(ALGORITHMS)}")
        if self.token_estimator not in ESTIMATORS:
            raise ConfigError(f"token_estimator must be one of {', '.join(ESTIMATORS)}")
        if self.chars_per_token <= 0:
            raise ConfigError("chars_per_token must be positive")
        self.knobs.validate()

    def public(self) -> dict[str, Any]:
        """The config as JSON, without the API keys themselves."""
        data = dataclasses.asdict(self)
        data["api_keys"] = len(self.api_keys)
        data["window_seconds"] = self.window_seconds
        data["day_seconds"] = self.day_seconds
        return data
