"""One search as the search bench times it, its latency figures, and what its plan reads."""

from __future__ import annotations

import time

import numpy as np
from django.db import connection

from bench.search_common import MODEL, K
from project.embeddings.index.cover import search_cover
from project.embeddings.search.chunks import chunk_search, search_transaction
from project.embeddings.search.nearest import nearest_embeddings


def search(
    query: np.ndarray, *, collection: str | None = None, exact_unindexed: bool | None = None, model: str = MODEL
) -> tuple[list[int], float]:
    """``chunk_search``'s chunk ids and its wall time in milliseconds."""
    started = time.perf_counter()
    hits = chunk_search(
        vector=query, model=model, viewer=None, k=K, collection=collection, exact_unindexed=exact_unindexed
    )
    return [hit.chunk.pk for hit in hits], (time.perf_counter() - started) * 1000


def latency(ms: list[float]) -> dict:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "mean_ms": round(float(np.mean(ms)), 2), "queries": len(ms)}  # fmt: skip


def plan_indexes(query: np.ndarray, *, collection: str | None = None) -> dict:
    """The indexes EXPLAIN says the search reads, whether an exact part scans the table, and
    where one search's time went (EXPLAIN ANALYZE: planning, execution, each part)."""
    nearest = nearest_embeddings(vector=query, model=MODEL, viewer=None, k=K, collection=collection)
    with search_transaction(k=K, viewer=None, collection=collection):  # chunk_search's settings
        plan = nearest.explain()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + nearest.sql, nearest.params)
            analyzed = cursor.fetchone()[0][0]
    lines = [line.strip() for line in plan.splitlines()]
    used = sorted({line.split(" using ")[1].split()[0] for line in lines if "Index Scan using " in line})
    return {"hnsw_indexes_used": [name for name in used if "hnsw" in name],
            "other_indexes_used": [name for name in used if "hnsw" not in name],
            "cover": _cover(), "plan_nodes": [line.split("  (")[0] for line in lines if "->" in line or "Limit" in line],
            "analyzed": {"planning_ms": round(analyzed["Planning Time"], 2),
                         "execution_ms": round(analyzed["Execution Time"], 2), "parts": _parts(analyzed["Plan"])}}  # fmt: skip


def _parts(plan: dict) -> list[dict]:
    """The merged parts of an analyzed plan: what each reads and its milliseconds."""
    node = plan
    while node.get("Node Type") not in ("Merge Append", "Append") and node.get("Plans"):
        node = node["Plans"][0]
    parts = node.get("Plans", [node]) if node.get("Node Type") in ("Merge Append", "Append") else [plan]
    return [{"reads": sorted(set(_reads(part))), "ms": round(part["Actual Total Time"], 3)} for part in parts]


def _reads(node: dict) -> list[str]:
    names = [node["Index Name"]] if "Index Name" in node else []
    if node.get("Node Type") == "Seq Scan":
        names.append(node["Relation Name"])
    return names + [name for child in node.get("Plans", []) for name in _reads(child)]


def _cover() -> dict:
    cover = search_cover()
    return {"index_ranges": [list(r) for r in cover.ranges], "exact_segments": list(cover.exact)}
