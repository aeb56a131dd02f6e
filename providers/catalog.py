"""What tollgate knows of each model (OPENAI_FACTS.md): embedding models' input limits and prices; chat
models' context, prices and published tier limits."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import UnknownChatModel

MAX_INPUTS_PER_REQUEST = 2048
MAX_TOKENS_PER_REQUEST = 300_000
BATCH_PRICE_SHARE = 0.5  # the Batch API bills half the synchronous price
TIER1_BATCH_QUEUE_TOKENS = 3_000_000  # enqueued tokens per model at Tier 1 (text-embedding-3-*)


@dataclass(frozen=True)
class ModelInfo:
    max_input_tokens: int
    native_dimensions: int
    usd_per_million_tokens: float

    @property
    def batch_usd_per_million_tokens(self) -> float:
        return self.usd_per_million_tokens * BATCH_PRICE_SHARE


MODELS = {
    "text-embedding-3-small": ModelInfo(8192, 1536, 0.02),
    "text-embedding-3-large": ModelInfo(8192, 3072, 0.13),
    "text-embedding-ada-002": ModelInfo(8191, 1536, 0.10),
}
# An OpenAI-compatible model tollgate has no facts about: the common 8k context, price unknown.
UNKNOWN = ModelInfo(8191, 1536, 0.0)


def model_info(model: str) -> ModelInfo:
    return MODELS.get(model, UNKNOWN)


# --- chat models ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatTier:
    """A chat model's published per-minute limits at one usage tier (requests per day: None, unlimited)."""

    rpm: int
    tpm: int
    rpd: int | None = None


@dataclass(frozen=True)
class ChatModelInfo:
    """What tollgate knows of a chat model: its context, its longest answer, its prices and tier limits.

    OpenAI admits a chat request on its prompt's tokens plus ``max_tokens`` (the answer it may
    write), so a caller asks the shared limiter for that much and reconciles with ``usage``.
    """

    context_tokens: int
    max_output_tokens: int
    usd_per_million_input: float
    usd_per_million_output: float
    encoding: str
    tiers: dict[str, ChatTier]

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.usd_per_million_input + completion_tokens * self.usd_per_million_output) / 1e6


# Published limits and prices (platform.openai.com, 2025): per minute, per organization and model.
CHAT_MODELS = {
    "gpt-4o-mini": ChatModelInfo(
        128_000, 16_384, 0.15, 0.60, "o200k_base",
        {
            "free": ChatTier(3, 40_000, 200),
            "1": ChatTier(500, 200_000, 10_000),
            "2": ChatTier(5_000, 2_000_000),
            "3": ChatTier(5_000, 4_000_000),
            "4": ChatTier(10_000, 10_000_000),
            "5": ChatTier(30_000, 150_000_000),
        },
    ),
    "gpt-4o": ChatModelInfo(
        128_000, 16_384, 2.50, 10.00, "o200k_base",
        {
            "1": ChatTier(500, 30_000),
            "2": ChatTier(5_000, 450_000),
            "3": ChatTier(5_000, 800_000),
            "4": ChatTier(10_000, 2_000_000),
            "5": ChatTier(10_000, 30_000_000),
        },
    ),
}  # fmt: skip
DEFAULT_CHAT_MODEL = "gpt-4o-mini"


def chat_model_info(model: str) -> ChatModelInfo:
    """The chat model's facts; raises :class:`~providers.errors.UnknownChatModel` for a model not in the catalog."""
    info = CHAT_MODELS.get(model)
    if info is None:
        raise UnknownChatModel(model, known=tuple(CHAT_MODELS))
    return info
