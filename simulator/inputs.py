"""Read an embeddings request the way the API does: input forms, validation, token counts.

Two counts per input: ``usage`` is tiktoken's exact count (what ``usage.prompt_tokens``
reports and what the context-length and per-request checks use); ``charged`` is what the
rate limit counts, tiktoken's count too unless the "chars" estimator is chosen, which
counts characters / ``chars_per_token`` the way the real service is said to estimate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import tiktoken

from simulator.config import MAX_INPUTS, MAX_TOKENS_PER_REQUEST, MODELS, ModelSpec
from simulator.errors import (
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    TooManyTokensPerRequestError,
)

__all__ = ["EmbeddingRequest", "parse_request", "encoding_for", "BATCH_CHARS"]

BATCH_CHARS = 200_000  # above this many characters, tokenize with tiktoken's thread pool
ENCODING_FORMATS = ("float", "base64")


@dataclass(frozen=True)
class EmbeddingRequest:
    """A validated request: one ``contents`` entry (bytes to embed) per input, in order."""

    model: ModelSpec
    contents: list[bytes]
    usage_tokens: int
    charged_tokens: int
    dimensions: int
    encoding_format: str
    user: str | None


@functools.cache
def encoding_for(model: str) -> tiktoken.Encoding:
    """tiktoken's encoding for a served model (loaded once; may download, see ``__main__``)."""
    return tiktoken.encoding_for_model(model)


def model_of(body: Any) -> ModelSpec:
    """The served embedding model the body names: 400 when absent, 404 when unknown."""
    return named_model(body, MODELS)


Spec = TypeVar("Spec")


def named_model(body: Any, served: Mapping[str, Spec]) -> Spec:
    """The model of ``served`` the body names: 400 when absent, 404 when unknown (both endpoints)."""
    if not isinstance(body, dict):
        raise InvalidRequestError("'$' is invalid. Expected a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("You must provide a model parameter.", param="model")
    spec = served.get(model)
    if spec is None:
        raise ModelNotFoundError(model)
    return spec


def _is_token_list(value: Any) -> bool:
    return isinstance(value, list) and all(type(x) is int for x in value)


def _split_inputs(raw: Any) -> tuple[list[str], list[list[int]]]:
    """(texts, token lists): exactly one is non-empty; the four documented forms only."""
    if isinstance(raw, str):
        return [raw], []
    if not isinstance(raw, list) or not raw or len(raw) > MAX_INPUTS and not _is_token_list(raw):
        raise InvalidRequestError.invalid_field("input")
    if all(isinstance(x, str) for x in raw):
        return raw, []
    if _is_token_list(raw):
        return [], [raw]
    if all(_is_token_list(x) for x in raw):
        return [], raw
    raise InvalidRequestError.invalid_field("input")


def _dimensions(body: dict[str, Any], spec: ModelSpec) -> int:
    value = body.get("dimensions")
    if value is None:
        return spec.dimensions
    if not spec.supports_dimensions:
        raise InvalidRequestError("This model does not support specifying dimensions.", param="dimensions")
    if type(value) is not int or not 1 <= value <= spec.dimensions:
        raise InvalidRequestError(
            f"Invalid value for 'dimensions' = {value}. Must be between 1 and {spec.dimensions}.",
            param="dimensions",
        )
    return value


def parse_request(body: Any, *, estimator: str = "tiktoken", chars_per_token: float = 4.0) -> EmbeddingRequest:
    """Validate ``body`` like the real endpoint; raises the matching ``SimulatorError``."""
    spec = model_of(body)
    texts, token_lists = _split_inputs(body.get("input"))
    encoding_format = body.get("encoding_format") or "float"
    if encoding_format not in ENCODING_FORMATS:
        raise InvalidRequestError.invalid_field("encoding_format")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidRequestError.invalid_field("user")
    dimensions = _dimensions(body, spec)
    encoding = encoding_for(spec.name)
    if texts:
        if any(not text for text in texts):
            raise InvalidRequestError.invalid_field("input")
        if sum(map(len, texts)) > BATCH_CHARS:
            counts = [len(tokens) for tokens in encoding.encode_ordinary_batch(texts)]
        else:
            counts = [len(encoding.encode_ordinary(text)) for text in texts]
        contents = [text.encode("utf-8") for text in texts]
        if estimator == "chars":
            charged = sum(max(1, math.ceil(len(text) / chars_per_token)) for text in texts)
        else:
            charged = sum(counts)
    else:
        if len(token_lists) > MAX_INPUTS or any(not ids for ids in token_lists):
            raise InvalidRequestError.invalid_field("input")
        try:
            contents = [encoding.decode_bytes(ids) for ids in token_lists]
        except (KeyError, OverflowError):
            raise InvalidRequestError.invalid_field("input") from None
        counts = [len(ids) for ids in token_lists]
        charged = sum(counts)
    for count in counts:
        if count > spec.max_input_tokens:
            raise ContextLengthError(limit=spec.max_input_tokens, requested=count)
    total = sum(counts)
    if total > MAX_TOKENS_PER_REQUEST:
        raise TooManyTokensPerRequestError(requested=total, limit=MAX_TOKENS_PER_REQUEST)
    return EmbeddingRequest(spec, contents, total, charged, dimensions, encoding_format, user)
