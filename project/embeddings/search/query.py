"""Search: embed the query through the shared limit (the gate), then the nearest chunks by cosine.

Interactive work asks the limiter with no reserve, so the share a backfill leaves free
(``TOLLGATE_BULK_RESERVE``) is there for it.
"""

from __future__ import annotations

from django.conf import settings

from project.embeddings.owners import Viewer
from project.embeddings.search.chunks import SearchHit, chunk_search
from project.provider import provider_config, shared_limiter
from providers import client_for, count_tokens, embed_within
from providers.gate import INTERACTIVE_TIMEOUT


def embed_query(text: str, *, model: str | None = None, timeout: float = INTERACTIVE_TIMEOUT) -> list[float]:
    """The query's vector; waits for the shared limit up to ``timeout``, raises a ProviderError on failure."""
    config = provider_config(model)
    tokens = count_tokens([text], config.model)[0]
    result = embed_within(
        limiter=shared_limiter(config.model), client=client_for(config), config=config, texts=[text], tokens=tokens,
        timeout=timeout,
    )
    return result.vectors[0]


def search(
    query: str,
    *,
    viewer: Viewer,
    k: int = 5,
    threshold: float | None = None,
    collection: str | None = None,
    model: str | None = None,
) -> list[SearchHit]:
    """The ``k`` chunks ``viewer`` may see most similar to ``query``, best first (similarity = 1 − cosine distance).

    ``viewer`` None is the operator's command line, which searches every owner's documents.
    """
    model = model or settings.TOLLGATE_MODEL
    vector = embed_query(query, model=model)
    return chunk_search(vector=vector, model=model, viewer=viewer, k=k, threshold=threshold, collection=collection)
