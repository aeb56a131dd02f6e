"""What a chunk sends to the API: itself, or, when longer than the model accepts, the policy's pieces.

``split`` never reaches here with a long chunk (ingest already cut the document to the model's
limit); ``truncate`` sends the first piece; ``average`` sends every piece and the worker combines
their vectors weighted by tokens, re-normalized to unit length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tiktoken

from .splitter import split_text

# What happens to a chunk longer than the model accepts (a job's ``long_input_policy``).
SPLIT, TRUNCATE, AVERAGE = "split", "truncate", "average"
POLICIES = (SPLIT, TRUNCATE, AVERAGE)


@dataclass(frozen=True)
class ChunkInputs:
    chunk_id: int
    texts: list[str]
    tokens: list[int]  # per text: the limiter's estimate and the average's weights


def chunk_inputs(
    chunk_id: int, text: str, token_count: int, *, policy: str, max_tokens: int, encoding: tiktoken.Encoding
) -> ChunkInputs:
    if token_count <= max_tokens:
        return ChunkInputs(chunk_id, [text], [token_count])
    pieces = [p for p in split_text(text, encoding=encoding, chunk_size=max_tokens, chunk_overlap=0) if p.text.strip()]
    if policy == TRUNCATE:
        pieces = pieces[:1]
    return ChunkInputs(chunk_id, [p.text for p in pieces], [p.token_count for p in pieces])


def combine(vectors: list[np.ndarray], weights: list[int]) -> np.ndarray:
    """The token-weighted mean of piece vectors, scaled back to unit length (float32)."""
    if len(vectors) == 1:
        return vectors[0]
    total = np.average(np.stack(vectors).astype(np.float64), axis=0, weights=weights)
    norm = float(np.linalg.norm(total)) or 1.0
    return (total / norm).astype(np.float32)
