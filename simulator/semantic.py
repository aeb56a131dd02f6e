"""Vectors with meaning: texts that share words and word pairs land near each other.

Features of a text are its words (stemmed, see ``words.py``), its word pairs and one
feature for the exact text (so a near-duplicate is close to, not equal to, the original).
Each feature is hashed with the model into a bucket of a sparse vector of ``N`` (a power
of two) with a pseudo-random sign, weighted ``(1 + ln tf)`` times a word weight (stopwords
and pairs with a stopword count little). A fixed random orthogonal map, a Walsh-Hadamard
transform with permuted, sign-flipped rows, turns that sparse vector into a dense one:
Hadamard preserves inner products, so the cosine of two vectors is the weighted share of
features they have in common, and unrelated texts are nearly orthogonal. Any prefix of the
permuted rows is a random projection, so ``dimensions=k`` is the full vector cut to k and
renormalized, as with text-embedding-3.

Everything up to the final division is exact integer arithmetic (below 2**53 even for 8,192
tokens), so the numpy backend and the pure-Python fallback give bit-identical vectors.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import sys
from array import array
from collections.abc import Sequence
from operator import add, sub

from simulator.words import word_ids

try:
    import numpy as np
except ImportError:  # the simulator stands alone; numpy only makes it faster
    np = None  # type: ignore[assignment]

__all__ = ["semantic_vectors", "BACKENDS"]

BACKENDS = ("numpy", "python") if np is not None else ("python",)
MASK = (1 << 64) - 1
# A feature is the low 48 bits of its hash: class (bits 0-2), bucket (from bit 3), sign (bit
# 47). The numpy path sorts all texts' features at once with the text's row above bit 48.
FEATURE_BITS = 48
FEATURE_MASK = (1 << FEATURE_BITS) - 1
SIGN_BIT = FEATURE_BITS - 1
PAIR = 0x9E3779B97F4A7C15  # odd multiplier: (a, b) and (b, a) are different pairs
# Weight per feature class, kept in a hash's low 3 bits: word, stopword, pair, pair with a
# stopword, the exact text.
WEIGHTS = (8, 1, 6, 1, 3)
EXACT_CLASS = 4
TF_SCALE = 16  # integer weights: round(16 * (1 + ln tf))
MAX_TF = 60_000  # above any count an 8,192-token input can give
ROWS_PER_PASS = 256  # texts whose features are sorted together (at most 2**16)
TRANSFORM_ROWS = 16  # rows transformed together: small enough to stay in the CPU cache


@functools.cache
def _tf_table() -> list[int]:
    return [0] + [round(TF_SCALE * (1.0 + math.log(c))) for c in range(1, MAX_TF + 1)]


@functools.cache
def _layout(model: str, dimensions: int) -> tuple[int, int, list[int], list[int]]:
    """Per model: the salt of its feature hashes, N, and the rows (with signs) it reads."""
    seed = int.from_bytes(hashlib.blake2b(model.encode(), digest_size=8).digest(), "little")
    size = 1 << max(1, (dimensions - 1).bit_length())
    rng = random.Random(seed)
    rows = rng.sample(range(size), dimensions)
    signs = [rng.choice((1, -1)) for _ in range(dimensions)]
    return seed, size, rows, signs


def _mix(x: int) -> int:
    """splitmix64's finalizer: every input bit moves every output bit."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def _exact_key(content: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(content, digest_size=8, person=b"exact").digest(), "little")


def _sparse_python(content: bytes, salt: int, size: int) -> dict[int, int]:
    """Bucket -> integer value for one content; the reference the numpy path must equal."""
    packed = array("Q", word_ids(content))
    if sys.byteorder == "big":
        packed.byteswap()
    ids = packed.tolist()
    keys = [(i, i & 1) for i in ids]
    keys += [((a * PAIR + b) & MASK, 2 + ((a | b) & 1)) for a, b in zip(ids, ids[1:])]
    keys.append((_exact_key(content), EXACT_CLASS))
    counts: dict[int, int] = {}
    for key, cls in keys:
        h = (_mix(key ^ salt) & FEATURE_MASK & ~7) | cls
        counts[h] = counts.get(h, 0) + 1
    tf = _tf_table()
    x: dict[int, int] = {}
    for h, count in counts.items():
        value = tf[count] * WEIGHTS[h & 7]
        bucket = (h >> 3) & (size - 1)
        x[bucket] = x.get(bucket, 0) + (-value if h >> SIGN_BIT else value)
    return x


def _hadamard_python(x: list[int]) -> list[int]:
    """Unnormalized Walsh-Hadamard transform, constant-geometry form (one stage, log2 N times)."""
    for _ in range(len(x).bit_length() - 1):
        even, odd = x[0::2], x[1::2]
        x = list(map(add, even, odd))
        x.extend(map(sub, even, odd))
    return x


def _unit(values: Sequence[float], squares: float) -> array:
    """``values`` over their norm as float32; an all-zero cut becomes the first axis."""
    if squares == 0:
        out = array("f", bytes(4 * len(values)))
        out[0] = 1.0
        return out
    norm = math.sqrt(squares)
    return array("f", [v / norm for v in values])


def _vectors_python(contents: Sequence[bytes], model: str, full: int, dimensions: int) -> list[array]:
    salt, size, rows, signs = _layout(model, full)
    out = []
    for content in contents:
        dense = [0] * size
        for bucket, value in _sparse_python(content, salt, size).items():
            dense[bucket] = value
        y = _hadamard_python(dense)
        z = [y[r] * s for r, s in zip(rows[:dimensions], signs)]
        out.append(_unit(z, sum(v * v for v in z)))
    return out


@functools.cache
def _np_tables() -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(_tf_table(), dtype=np.int64), np.asarray(WEIGHTS, dtype=np.int64)


def _mix_np(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _sparse_numpy(contents: Sequence[bytes], salt: int, size: int) -> np.ndarray:
    """The rows of ``_sparse_python`` for many contents at once (one sort, one bincount)."""
    n = len(contents)
    packed = [word_ids(c) for c in contents]
    ids = np.frombuffer(b"".join(packed), dtype="<u8")
    rows = np.repeat(np.arange(n, dtype=np.uint64), [len(p) // 8 for p in packed])
    same = rows[:-1] == rows[1:]  # pairs never span two texts
    first, second = ids[:-1][same], ids[1:][same]
    one = np.uint64(1)
    keys = np.concatenate((ids, first * np.uint64(PAIR) + second, np.array([_exact_key(c) for c in contents], "<u8")))
    classes = np.concatenate((ids & one, ((first | second) & one) + np.uint64(2), np.full(n, EXACT_CLASS, "<u8")))
    owners = np.concatenate((rows, rows[:-1][same], np.arange(n, dtype=np.uint64)))
    features = (_mix_np(keys ^ np.uint64(salt)) & np.uint64(FEATURE_MASK & ~7)) | classes
    ordered = np.sort(features | (owners << np.uint64(FEATURE_BITS)))
    change = np.empty(len(ordered), dtype=bool)
    change[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    counts = np.empty_like(starts)
    counts[:-1] = starts[1:] - starts[:-1]
    counts[-1] = len(ordered) - starts[-1]
    unique = ordered[starts]
    tf, weights = _np_tables()
    values = tf[counts] * weights[(unique & np.uint64(7)).astype(np.intp)]
    values = np.where((unique >> np.uint64(SIGN_BIT)) & one, -values, values)
    cells = (unique >> np.uint64(FEATURE_BITS)) * np.uint64(size) + ((unique >> np.uint64(3)) & np.uint64(size - 1))
    dense = np.bincount(cells.astype(np.intp), weights=values, minlength=n * size)
    # int32 is exact: |y| <= sum |x| stays far below 2**31 for any 8,192-token input.
    return dense.astype(np.int32).reshape(n, size)


def _vectors_numpy(contents: Sequence[bytes], model: str, full: int, dimensions: int) -> list[array]:
    salt, size, rows, signs = _layout(model, full)
    take = np.asarray(rows[:dimensions])
    flip = np.asarray(signs[:dimensions], dtype=np.int32)
    out = []
    for start in range(0, len(contents), ROWS_PER_PASS):
        sparse = _sparse_numpy(contents[start : start + ROWS_PER_PASS], salt, size)
        for part in range(0, len(sparse), TRANSFORM_ROWS):
            y = sparse[part : part + TRANSFORM_ROWS]
            for _ in range(size.bit_length() - 1):
                even, odd = y[:, 0::2], y[:, 1::2]
                y = np.concatenate((even + odd, even - odd), axis=1)
            z = (y[:, take] * flip).astype(np.float64)
            for row, total in zip(z, np.einsum("ij,ij->i", z, z).tolist()):
                if total == 0:
                    out.append(_unit(row.tolist(), 0.0))
                else:
                    out.append(array("f", (row / math.sqrt(total)).astype(np.float32).tobytes()))
    return out


def semantic_vectors(
    contents: Sequence[bytes], *, model: str, full_dimensions: int, dimensions: int, backend: str | None = None
) -> list[array]:
    """Unit float32 vectors of ``contents``, the first ``dimensions`` of each full vector.

    ``full_dimensions`` is the model's native size (it fixes the layout, so every
    ``dimensions`` is a prefix of the same vector); ``backend`` defaults to numpy when
    installed. Example::

        a, b = semantic_vectors([b"rate limits", b"a rate limit"], model="m", full_dimensions=1536, dimensions=1536)
    """
    backend = backend or BACKENDS[0]
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
    if backend == "numpy":
        return _vectors_numpy(contents, model, full_dimensions, dimensions)
    return _vectors_python(contents, model, full_dimensions, dimensions)
