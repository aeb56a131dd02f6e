"""Deterministic unit embeddings of two kinds: ``semantic`` (the default) and ``exact``.

``semantic`` vectors (semantic.py) put texts that share words and word pairs near each
other, so a search over simulated vectors ranks paraphrases above unrelated text, as a
real model would. ``exact`` vectors are SHAKE-256 of (model, input) read as signed 16-bit
integers, scaled to length 1: two different inputs are nearly orthogonal (cosine about
±0.03 at 1536 dims) however alike they read, which tests of exact-match behaviour want.
For both, ``dimensions=k`` is the full vector cut to k and renormalized, as with the real
text-embedding-3 models.
"""

from __future__ import annotations

import base64
import hashlib
import math
import sys
from array import array
from collections.abc import Sequence

import numpy as np

from simulator.config import MODELS, VECTOR_KINDS
from simulator.semantic import semantic_vectors

__all__ = ["embed", "embed_many", "exact_vector", "encode_vector", "VECTOR_KINDS"]


def exact_vector(content: bytes, *, model: str, dimensions: int) -> array:
    """SHAKE's output for a shorter length is a prefix of the longer one: the prefix property.

    numpy does the scaling: this runs once per input served, and the simulator's CPU is taken
    from the machine the pipeline it measures runs on.
    """
    raw = np.frombuffer(hashlib.shake_256(model.encode() + b"\x00" + content).digest(2 * dimensions), dtype="<i2")
    values = raw.astype(np.float64)
    norm = math.sqrt(float(values @ values)) or 1.0
    return array("f", (values / norm).astype(np.float32).tobytes())


def embed_many(contents: Sequence[bytes], *, model: str, dimensions: int, kind: str = "semantic") -> list[array]:
    """The float32 vectors of ``contents`` (texts' UTF-8 bytes, or tokens' decoded bytes), in order.

    Example::

        query, doc = embed_many([b"rate limits", b"one rate limit for all workers"],
                                model="text-embedding-3-small", dimensions=1536)
    """
    if kind == "exact":
        return [exact_vector(c, model=model, dimensions=dimensions) for c in contents]
    if kind != "semantic":
        raise ValueError(f"kind must be one of {', '.join(VECTOR_KINDS)}")
    spec = MODELS.get(model)
    full = spec.dimensions if spec is not None else dimensions
    return semantic_vectors(contents, model=model, full_dimensions=full, dimensions=dimensions)


def embed(content: bytes, *, model: str, dimensions: int, kind: str = "semantic") -> array:
    """The float32 vector of one content; see ``embed_many``."""
    return embed_many([content], model=model, dimensions=dimensions, kind=kind)[0]


def encode_vector(vector: array, encoding_format: str) -> list[float] | str:
    """``float``: a JSON list; ``base64``: little-endian float32 bytes, as the SDK decodes them."""
    if encoding_format == "base64":
        if sys.byteorder == "big":
            vector = array("f", vector)
            vector.byteswap()
        return base64.b64encode(vector.tobytes()).decode("ascii")
    return vector.tolist()
