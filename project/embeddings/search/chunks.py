"""The chunks nearest a query vector, best first: the search's settings, its one statement, its hits.

The SQL itself is ``nearest.py``; embedding a query through the gate is ``query.py``. Measured
figures behind the choices here (candidate lists, one round trip) are in docs/OPERATIONS.md,
"Search".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model

from project.embeddings.index.cover import Cover, search_cover
from project.embeddings.models import Chunk, Document
from project.embeddings.owners import Viewer
from project.embeddings.search.nearest import NearestQuery, joined, nearest_embeddings

__all__ = ["EF_SEARCH", "SearchHit", "chunk_search", "ef_search", "search_transaction"]

M = TypeVar("M", bound=Model)

# HNSW's candidate list (pgvector's default is 40), raised for recall over one large index
# (docs/OPERATIONS.md, "Search: the figures behind the code").
EF_SEARCH = 160


def ef_search(k: int, *, filtered: bool = False, cover: Cover | None = None) -> int:
    """The candidate list each HNSW index of this search keeps: one list, scaled by the largest index's share.

    A search that reads several indexes unfiltered takes each one's k best, and an index holding
    a share ``f`` of the rows holds about ``f * k`` of the true k, so it needs a shorter list;
    every candidate costs a 1,536-d distance per index. ``hnsw.ef_search`` is one setting for
    the whole query, so it is sized for the largest index: ``EF_SEARCH * f**2``, never below k,
    which held recall@10 near 0.98 in every shape bench/search.py measured, as one index does
    with its whole list (the table: docs/OPERATIONS.md). A filtered search keeps the whole list:
    a narrow one lost recall and iterated longer.
    """
    wide = max(EF_SEARCH, 2 * k)
    cover = cover or search_cover()
    if filtered or len(cover.ranges) <= 1:
        return wide
    return max(k, math.ceil(wide * cover.largest_share() ** 2))


@dataclass(frozen=True)
class SearchHit:
    chunk: Chunk
    similarity: float  # 1 - cosine distance


def chunk_search(
    *,
    vector: Sequence[float],
    model: str,
    viewer: Viewer,
    k: int = 5,
    threshold: float | None = None,
    collection: str | None = None,
    exact_unindexed: bool | None = None,
) -> list[SearchHit]:
    """The ``k`` chunks ``viewer`` may see nearest to ``vector`` by cosine (pgvector ``<=>``), best first.

    The HNSW index is scanned iteratively (pgvector 0.8): when a filter (the model, a
    collection) drops candidates, the scan goes on until ``k`` rows pass, instead of returning
    fewer. ``relaxed_order`` may hand rows back slightly out of order, so the ``k`` are sorted.

    An unfiltered search plans with sorts off, so each part reads its HNSW index: PostgreSQL
    does not cost reading vectors out of TOAST (where vectors too large for the row live), and
    even in the row it takes sorting a 10,000-row segment exactly for cheap (0.2-0.4 s a part
    out of TOAST, measured in bench/search.py), so a search of ten segment indexes would read
    every row. A join filter (a collection, an owner) keeps the
    planner's choice: for a small collection its exact scan over the few rows is the faster.

    Rows no index covers yet (a backfill still loading) are found through their sign bits:
    the ``RERANK * k`` nearest by Hamming distance are read whole and ranked exactly. A search
    filtered by a join scans those rows exactly instead, since its filter may drop most of the
    nearest bits (``exact_unindexed``: None chooses so; True or False forces either, as
    bench/search.py does to time both side by side).
    """
    cover = search_cover(model)  # read once: the query's parts and their candidate list follow it
    query = nearest_embeddings(
        vector=vector, model=model, viewer=viewer, k=k, threshold=threshold, collection=collection, cover=cover,
        exact_unindexed=exact_unindexed,
    )  # fmt: skip
    settings_sql, settings_params = _search_settings(k=k, joined=joined(viewer, collection), cover=cover)
    with connection.cursor() as cursor:
        if connection.get_autocommit() and isinstance(cursor.cursor, psycopg.ClientCursor):
            # One message, one round trip: in autocommit PostgreSQL runs a message of several
            # statements as one transaction, so the LOCAL settings end with it. BEGIN, the
            # settings, the query and COMMIT as four round trips took 1.5-2.5 ms more here.
            cursor.execute(f"{settings_sql}; {_hits_sql(query)}", (*settings_params, *query.params))
            cursor.nextset()
            return _hits(cursor.fetchall())
    with search_transaction(k=k, viewer=viewer, collection=collection, cover=cover), connection.cursor() as cursor:
        cursor.execute(_hits_sql(query), query.params)
        return _hits(cursor.fetchall())


# A hit carries its chunk and the chunk's document, but not the document's whole text.
_CHUNK_FIELDS = tuple(field for field in Chunk._meta.concrete_fields)
_DOCUMENT_FIELDS = tuple(field for field in Document._meta.concrete_fields if field.name != "text")


def _hits_sql(query: NearestQuery) -> str:
    """The nearest rows with their chunks and documents, read in the query's own statement.

    One statement instead of the nearest ids and then an ORM query for their chunks: that second
    query took 1.7-2.0 ms here, and a search beside a loading segment went from 23.8 to 21.8 ms
    (p50, 200 queries alternating, the same hits).
    """
    columns = [f'c."{f.column}"' for f in _CHUNK_FIELDS] + [f'd."{f.column}"' for f in _DOCUMENT_FIELDS]
    return (
        f"SELECT nearest.distance, {', '.join(columns)} FROM ({query.sql}) AS nearest "
        f'JOIN "{Chunk._meta.db_table}" AS c ON c."id" = nearest.chunk_id '
        f'JOIN "{Document._meta.db_table}" AS d ON d."id" = c."document_id"'
    )


def _hits(rows: list[tuple]) -> list[SearchHit]:
    """:func:`_hits_sql`'s rows as hits, nearest first."""
    rows.sort(key=lambda row: row[0])  # relaxed_order: the planner takes the index's order for sorted, so sort here
    chunk_reader, document_reader = _reader(Chunk, _CHUNK_FIELDS), _reader(Document, _DOCUMENT_FIELDS)
    split = 1 + len(_CHUNK_FIELDS)
    hits = []
    for row in rows:
        chunk = chunk_reader(row[1:split])
        chunk.document = document_reader(row[split:])
        hits.append(SearchHit(chunk, 1 - row[0]))
    return hits


def _reader(model: type[M], fields: tuple) -> Callable[[Sequence], M]:
    """Model instances from raw column values, converted as the ORM's own reads convert them."""
    db = connections[DEFAULT_DB_ALIAS]
    converters = [db.ops.get_db_converters(field) + field.get_db_converters(db) for field in fields]
    names = [field.attname for field in fields]

    def read(values: Sequence) -> M:
        converted = []
        for field, convert_all, value in zip(fields, converters, values):
            for convert in convert_all:
                value = convert(value, field, db)
            converted.append(value)
        return model.from_db(DEFAULT_DB_ALIAS, names, converted)

    return read


@contextmanager
def search_transaction(
    *, k: int, viewer: Viewer, collection: str | None, cover: Cover | None = None
) -> Iterator[None]:
    """The transaction :func:`chunk_search` reads in, with its planner and HNSW settings (EXPLAIN in it too)."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(*_search_settings(k=k, joined=joined(viewer, collection), cover=cover))
        yield


def _search_settings(*, k: int, joined: bool, cover: Cover | None) -> tuple[str, tuple[str, str]]:
    """The statement that sets a search's planner and HNSW settings for its transaction, and its parameters."""
    sql = (
        "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
        "set_config('hnsw.ef_search', %s, true), set_config('enable_sort', %s, true)"
    )
    return sql, (str(ef_search(k, filtered=joined, cover=cover)), "on" if joined else "off")


