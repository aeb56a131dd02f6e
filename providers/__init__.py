"""Everything about talking to an embeddings provider, with no Django and no Celery.

Provider config and clients (OpenAI, Azure OpenAI, any compatible URL), one error tree, the
model catalog, offline tokenization and splitting, packing into request groups, the long-input
policies, the gate (admit through the shared limiter, call, reconcile) that bulk and
interactive callers share, and the Batch API client (:mod:`providers.batch`). Configuration
comes in as arguments; nothing here reads settings.
Imports ``ratelimit``, ``openai``, ``tiktoken`` and ``numpy``.
"""

from .batch import BatchState, LineResult
from .catalog import MAX_INPUTS_PER_REQUEST, MAX_TOKENS_PER_REQUEST, ModelInfo, model_info
from .client import EmbedResult, embed
from .config import ProviderConfig, client_for
from .errors import (
    AccountBlocked,
    ConfigurationError,
    InvalidInput,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RequestTooLarge,
    Transient,
    UnknownModelError,
)
from .gate import Passage, Waiting, embed_within, pass_gate
from .tokenization import count_tokens, encoding_for_model, prime_tiktoken_cache

__all__ = [
    "MAX_INPUTS_PER_REQUEST",
    "MAX_TOKENS_PER_REQUEST",
    "AccountBlocked",
    "BatchState",
    "ConfigurationError",
    "EmbedResult",
    "InvalidInput",
    "MalformedResponse",
    "LineResult",
    "ModelInfo",
    "Passage",
    "ProviderConfig",
    "ProviderError",
    "RateLimited",
    "RequestTooLarge",
    "Transient",
    "UnknownModelError",
    "Waiting",
    "client_for",
    "count_tokens",
    "embed",
    "embed_within",
    "encoding_for_model",
    "model_info",
    "pass_gate",
    "prime_tiktoken_cache",
]
