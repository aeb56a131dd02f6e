"""What tollgate knows of each embedding model (OPENAI_FACTS.md): limits per input and price."""

from __future__ import annotations

from dataclasses import dataclass

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
