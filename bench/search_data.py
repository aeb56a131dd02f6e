"""The search bench's vectors: clustered like real embeddings, and the exact answers to check against.

Uniform random unit vectors of 1,536 dimensions have no meaningful neighbours (every pair sits
near cosine 0), so recall measured on them says nothing. Text embeddings instead crowd around
topics and vary along a few directions within each. Each vector here is a cluster centre, plus
a move in that cluster's own low-dimensional subspace, plus a little isotropic noise,
unit-normalised; held-out queries come from the same clusters. :func:`contrast` reports how far
the true neighbours stand out from a random pair, so a reader can judge the shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLUSTERS = 400  # topics; about 250 rows each at 100,000 rows
LATENT = 16  # directions a topic varies along
LATENT_NORM = 0.7  # length of the move within the topic (the centre is 1)
NOISE_NORM = 0.3  # length of the isotropic noise


@dataclass(frozen=True)
class Clustered:
    """Rows to load and queries that are never loaded, from one generator."""

    rows: np.ndarray  # (n, d) float32, unit rows
    queries: np.ndarray  # (q, d) float32, unit rows

    def describe(self) -> dict:
        return {"clusters": CLUSTERS, "latent_dimensions": LATENT, "latent_norm": LATENT_NORM,
                "isotropic_noise_norm": NOISE_NORM, "normalised": True}  # fmt: skip


def clustered(*, rows: int, queries: int, dimensions: int, seed: int = 5) -> Clustered:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.standard_normal((CLUSTERS, dimensions), dtype=np.float32))
    total = rows + queries
    labels = rng.integers(0, CLUSTERS, size=total)
    values = centres[labels]
    for cluster in range(CLUSTERS):
        members = np.flatnonzero(labels == cluster)
        basis = _unit(rng.standard_normal((LATENT, dimensions), dtype=np.float32))
        latent = rng.standard_normal((len(members), LATENT), dtype=np.float32) * (LATENT_NORM / np.sqrt(LATENT))
        values[members] += latent @ basis
    values += rng.standard_normal(values.shape, dtype=np.float32) * (NOISE_NORM / np.sqrt(dimensions))
    values = _unit(values)
    return Clustered(rows=values[:rows], queries=values[rows:])


def near(rng: np.random.Generator, vector: np.ndarray, *, noise: float = 0.05) -> np.ndarray:
    """A query close to ``vector`` (the row it came from is its nearest neighbour)."""
    moved = vector + rng.standard_normal(vector.shape, dtype=np.float32) * (noise / np.sqrt(vector.size))
    return _unit(moved[None, :])[0]


def scores(rows: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row to every query, (rows, queries): unit rows, so a dot product."""
    return rows @ queries.T


def top(column: np.ndarray, k: int, *, mask: np.ndarray | None = None) -> np.ndarray:
    """Row indexes of the ``k`` highest scores in ``column`` (only where ``mask`` holds, when given)."""
    if mask is not None:
        column = np.where(mask, column, -np.inf)
    best = np.argpartition(-column, k)[:k]
    return best[np.argsort(-column[best])]


def recall(found: list[int], truth: list[int]) -> float:
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def contrast(values: np.ndarray, queries: np.ndarray, *, k: int = 10, sample: int = 100) -> dict:
    """Mean cosine of the 1st and k-th true neighbours, and of random rows, over ``sample`` queries."""
    similar = scores(values, queries[:sample])
    ranked = -np.sort(-similar, axis=0)
    return {"mean_cosine_1st_neighbour": round(float(ranked[0].mean()), 3),
            f"mean_cosine_{k}th_neighbour": round(float(ranked[k - 1].mean()), 3),
            "mean_cosine_random_row": round(float(similar.mean()), 3)}  # fmt: skip


def _unit(values: np.ndarray) -> np.ndarray:
    return (values / np.linalg.norm(values, axis=1, keepdims=True)).astype(np.float32)
