"""Search: embed the query through the shared limit, then the nearest chunks by cosine."""

from __future__ import annotations

from django.conf import settings

from project.embeddings.models import Chunk, EmbeddingJob
from project.embeddings.selectors import SearchHit, chunk_search
from workers.query import embed_query

MIN_QUERY_TOKENS = 12


def search(
    query: str, *, k: int = 5, threshold: float | None = None, collection: str | None = None, model: str | None = None
) -> list[SearchHit]:
    """The ``k`` chunks most similar to ``query``, best first, with similarity = 1 − cosine distance."""
    model = model or settings.TOLLGATE_MODEL
    vector = embed_query(query, model=model)
    return chunk_search(vector=vector, model=model, k=k, threshold=threshold, collection=collection)


def sample_query(job: EmbeddingJob) -> str | None:
    """The words of one of the job's short embedded chunks, for the demo to search with.

    The simulator's vectors know exact words, not meaning, so the demo searches with a whole
    chunk's text; against the real API any sentence of it would find it too.
    """
    chunk = (
        Chunk.objects.filter(document__jobs=job, embeddings__model=job.model, token_count__gte=MIN_QUERY_TOKENS)
        .order_by("token_count", "pk")
        .first()
    )
    return chunk.text if chunk else None
