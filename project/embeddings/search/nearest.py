"""The SQL of a nearest-neighbour search: one part per HNSW index, one for rows no index covers yet.

Each part is ordered by the bare ``<=>`` so an HNSW index serves it; the rows no index covers
yet (a backfill still loading, ``index/``) are found by their sign bits and ranked exactly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Value
from pgvector.django import CosineDistance

from project.embeddings.index.cover import Cover, search_cover
from project.embeddings.models import LIVE_SEGMENT, Embedding, UnindexedVector
from project.embeddings.owners import Viewer, sees_all, visibility_key, visible

__all__ = ["RERANK", "NearestQuery", "joined", "nearest_embeddings", "sign_bits", "vector_literal"]

# Rows ranked exactly per hit wanted, of those no index covers yet: the nearest by their sign bits
# (UnindexedVector). 10 kept recall@10 near 0.997 in bench/search.py (docs/OPERATIONS.md).
RERANK = 10


def joined(viewer: Viewer, collection: str | None) -> bool:
    """Whether the search filters its rows by a join (a collection, an owner), not by the model alone."""
    return collection is not None or not sees_all(viewer)


def sign_bits(vector: Sequence[float]) -> str:
    """``vector``'s sign bits as a bit string literal, as pgvector's ``binary_quantize`` writes them (1: above 0)."""
    return "".join(np.where(np.asarray(vector, dtype=np.float32) > 0, "1", "0").tolist())


def vector_literal(vector: Sequence[float]) -> str:
    """``vector`` as pgvector's text form, each float32 in the 9 significant digits that keep it exact.

    pgvector's own ``to_text`` writes each value's shortest float64 repr, up to 17 digits: 1.9 ms
    for 1,536 values here, against 0.8 ms for ``%.9g``, which PostgreSQL reads back to the same
    float32.
    """
    values = np.asarray(vector, dtype=np.float32)
    if values.ndim != 1:
        raise ValueError("expected ndim to be 1")  # as pgvector's Vector says
    return "[" + ",".join(["%.9g" % value for value in values.tolist()]) + "]"


# Stands in for the query vector in the compiled candidates query's parameters (unguessable, so
# never a collection's name).
_QUERY_VECTOR = f"[query vector {uuid.uuid4().hex}]"
_CANDIDATES: dict[tuple, tuple[str, tuple]] = {}


def _candidates(model: str, viewer: Viewer, collection: str | None, threshold: float | None) -> tuple[str, tuple]:
    """The rows every part of a search reads, as the ORM writes them, with their distance to ``_QUERY_VECTOR``.

    Compiled once per model, collection, threshold and what the viewer may see: the ORM's
    compile took about 1 ms of a search's 18 here (bench/search.py's data, the backfill midway).
    """
    key = (model, collection, threshold, visibility_key(viewer))
    if key not in _CANDIDATES:
        embeddings = visible(Embedding.objects.filter(model=model), viewer=viewer, owner_path="chunk__document__owner")
        if collection:
            embeddings = embeddings.filter(chunk__document__collection=collection)
        rows = embeddings.annotate(distance=CosineDistance("vector", Value(_QUERY_VECTOR)))
        if threshold is not None:
            rows = rows.filter(distance__lte=1 - threshold)
        sql, params = rows.values("id", "chunk_id", "segment", "distance").query.sql_with_params()
        if len(_CANDIDATES) >= 1024:
            _CANDIDATES.clear()
        _CANDIDATES[key] = (sql, tuple(params))
    return _CANDIDATES[key]


@dataclass(frozen=True)
class NearestQuery:
    """The SQL behind :func:`chunk_search`: ``(chunk_id, distance)`` rows, nearest first."""

    sql: str
    params: tuple

    def explain(self) -> str:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + self.sql, self.params)
            return "\n".join(row[0] for row in cursor.fetchall())


def nearest_embeddings(
    *,
    vector: Sequence[float],
    model: str,
    viewer: Viewer,
    k: int,
    threshold: float | None = None,
    collection: str | None = None,
    cover: Cover | None = None,
    exact_unindexed: bool | None = None,
) -> NearestQuery:
    """The query behind :func:`chunk_search`: one part per index, merged by distance.

    Each part is ordered by the bare ``<=>`` so an HNSW index serves it. (Wrapping the distance
    in a cast, as this query once did, hides it from the index: the planner then sorts every
    row of the model instead.) While backfills are loaded in bulk (``index/``) there is one
    part per index and one for the rows no index covers yet: the nearest by sign bits, ranked
    exactly (an exact scan of every such row when the search is filtered by a join).

    The ORM writes the rows every part reads (the model, who may see them, the collection, the
    threshold) once, as a ``NOT MATERIALIZED`` CTE that PostgreSQL inlines into each part, so the
    query vector is sent and parsed once, not once per part: over 10 segment indexes that took
    a search from 47 to 37 ms here, with the same answers. Each part's segment condition is
    written as its index's predicate (``index/``), so the planner can prove the index serves it.
    """
    base, params = _candidates(model, viewer, collection, threshold)
    literal = vector_literal(vector)
    params = [literal if p == _QUERY_VECTOR else p for p in params]
    cover = (cover or search_cover(model)).for_model(model)
    k = int(k)
    conditions = [f"segment = {LIVE_SEGMENT}"] if cover.live else []  # the live index's predicate, so it serves
    conditions += [f"segment >= {int(lo)} AND segment <= {int(hi)}" for lo, hi in cover.ranges]
    parts = [f"SELECT chunk_id, distance FROM candidates WHERE {c} ORDER BY distance LIMIT {k}" for c in conditions]
    params = tuple(params)
    if cover.exact:
        segments = ", ".join(str(int(s)) for s in cover.exact)
        if exact_unindexed is None:
            exact_unindexed = joined(viewer, collection)  # the filter may keep few of the nearest bits
        if exact_unindexed:
            parts.append(f"SELECT chunk_id, distance FROM candidates WHERE segment IN ({segments}) "
                         f"ORDER BY distance LIMIT {k}")  # fmt: skip
        else:
            # The segments are the model's own (its jobs'), so each bits row's model is compared
            # only where a segment's job is gone: that comparison took 1-1.5 ms over 18,000 rows.
            check_model = cover.exact_model_unknown
            same_model = "model = %s AND " if check_model else ""
            parts.append(
                f"SELECT c.chunk_id, c.distance FROM (SELECT embedding_id FROM {UnindexedVector._meta.db_table} "
                f"WHERE {same_model}segment IN ({segments}) ORDER BY bits <~> %s::varbit "
                f"LIMIT {RERANK * k}) AS near JOIN candidates AS c ON c.id = near.embedding_id "
                f"ORDER BY c.distance LIMIT {k}"
            )  # joined by id alone: an open segment is newer than the planner's statistics, which
            # would take it for a row or two and scan it through the segment index once per bit row
            params += (model,) * check_model + (sign_bits(vector),)
    if not parts:  # nothing anywhere holds this model's rows
        parts = ["SELECT chunk_id, distance FROM candidates WHERE false"]
    nearest = parts[0] if len(parts) == 1 else (
        "SELECT chunk_id, distance FROM (" + " UNION ALL ".join(f"({part})" for part in parts) + ") AS parts "
        f"ORDER BY distance LIMIT {k}"
    )  # fmt: skip
    return NearestQuery(f"WITH candidates AS NOT MATERIALIZED ({base}) {nearest}", params)
