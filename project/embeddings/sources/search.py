"""Search by source: the rows of the user's table nearest a query, with their best chunk.

The query is embedded with the current version's model and searched through ``chunk_search``
over the version's collection, as any search (the HNSW indexes, a backfill's unindexed rows);
each chunk's document is the text of one or more rows, so each hit names the row's ``id`` (as
text, as the table's id reads). A row appears once, with its nearest chunk. The version is read
once per search: a cutover meanwhile leaves the old version whole (it is retired, not deleted),
so a search running across it still answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from project.embeddings.models import Chunk, Source, SourceRow, SourceState, SourceVersion
from project.embeddings.owners import Viewer
from project.embeddings.search.chunks import chunk_search
from project.embeddings.search.query import embed_query
from project.embeddings.sources.errors import SourceError

__all__ = ["SourceHit", "source_search"]

WIDEN = 4  # chunks asked for per row wanted, again wider while rows are missing (a row's chunks may all be near)
MAX_CHUNKS = 1000


@dataclass(frozen=True)
class SourceHit:
    id: str  # the row's id, as text
    similarity: float
    chunk: Chunk
    version: int


def source_search(
    query: str, *, source: Source, viewer: Viewer, k: int = 5, threshold: float | None = None
) -> list[SourceHit]:
    """The ``k`` rows of ``source`` nearest ``query``, best first (similarity = 1 − cosine distance)."""
    version = SourceVersion.objects.filter(source=source, state=SourceState.CURRENT).first()
    if version is None:
        raise SourceError(f"{source.name} has no current version")
    vector = embed_query(query, model=version.model)
    wanted = max(1, k)
    chunks = min(MAX_CHUNKS, WIDEN * wanted)
    while True:
        hits = chunk_search(
            vector=vector, model=version.model, viewer=viewer, k=chunks, threshold=threshold,
            collection=version.collection,
        )  # fmt: skip
        rows = _rows(version, {hit.chunk.document_id for hit in hits})
        found: dict[str, SourceHit] = {}
        for hit in hits:  # nearest first: a row keeps its nearest chunk
            for row_id in rows.get(hit.chunk.document_id, ()):
                found.setdefault(row_id, SourceHit(row_id, hit.similarity, hit.chunk, version.number))
        if len(found) >= wanted or len(hits) < chunks or chunks >= MAX_CHUNKS:
            return sorted(found.values(), key=lambda hit: -hit.similarity)[:wanted]
        chunks = min(MAX_CHUNKS, chunks * WIDEN)


def _rows(version: SourceVersion, documents: set[int]) -> dict[int, list[str]]:
    """The version's row ids of each document (rows with the same text share one)."""
    rows: dict[int, list[str]] = {}
    for document_id, row_id in SourceRow.objects.filter(version=version, document_id__in=documents).values_list(
        "document_id", "row_id"
    ):
        rows.setdefault(document_id, []).append(row_id)
    for ids in rows.values():
        ids.sort()
    return rows
