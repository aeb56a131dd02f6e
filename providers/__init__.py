"""Everything about talking to an embeddings provider, with no Django and no Celery.

Provider config and clients (OpenAI, Azure OpenAI, any compatible URL), one error tree, the
model catalog, offline tokenization and splitting, packing into request groups, the long-input
policies, the gate (admit through the shared limiter, call, reconcile) that bulk and
interactive callers share (embeddings and chat answers, :mod:`providers.chat`), and the Batch API client (:mod:`providers.batch`). Configuration
comes in as arguments; nothing here reads settings.
Imports ``ratelimit``, ``openai``, ``tiktoken`` and ``numpy``.
"""

from .batch import BatchState, LineResult
from .catalog import (
    CHAT_MODELS,
    MAX_INPUTS_PER_REQUEST,
    MAX_TOKENS_PER_REQUEST,
    ChatModelInfo,
    ModelInfo,
    chat_model_info,
    model_info,
)
from .chat import ChatStream, chat_open
from .client import EmbedResult, embed
from .config import ProviderConfig, client_for
from .errors import (
    AccountBlocked,
    AnswerRefused,
    ConfigurationError,
    ContextTooLong,
    InvalidInput,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RequestTooLarge,
    Transient,
    UnknownChatModel,
    UnknownModelError,
)
from .gate import Passage, Served, Waiting, embed_within, pass_gate, pass_within
from .tokenization import chat_prompt_tokens, count_tokens, encoding_for_model, prime_tiktoken_cache

__all__ = [
    "CHAT_MODELS",
    "MAX_INPUTS_PER_REQUEST",
    "MAX_TOKENS_PER_REQUEST",
    "AccountBlocked",
    "AnswerRefused",
    "BatchState",
    "ChatModelInfo",
    "ChatStream",
    "ConfigurationError",
    "ContextTooLong",
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
    "Served",
    "Transient",
    "UnknownChatModel",
    "UnknownModelError",
    "Waiting",
    "chat_model_info",
    "chat_open",
    "chat_prompt_tokens",
    "client_for",
    "count_tokens",
    "embed",
    "embed_within",
    "encoding_for_model",
    "model_info",
    "pass_gate",
    "pass_within",
    "prime_tiktoken_cache",
]
