"""Search uses the HNSW index: the plan PostgreSQL chooses, read with EXPLAIN on real data.

Enough rows that an exact scan costs more than the index (below a few thousand rows PostgreSQL
rightly sorts them all: exact, and as fast), loaded first and indexed in bulk, as a backfill is.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction

from project.embeddings.models import Chunk, Document, Embedding, vector_indexes
from project.embeddings.search.chunks import chunk_search
from project.embeddings.search.nearest import nearest_embeddings
from project.embeddings.store.copy import vectors_store

pytestmark = pytest.mark.django_db(transaction=True)
ROWS, DIMENSIONS = 8000, 1536


@pytest.fixture
def vectors() -> np.random.Generator:
    document = Document.objects.create(collection="plan", content_hash="plan", text="x")
    other = Document.objects.create(collection="elsewhere", content_hash="elsewhere", text="y")
    rare = Document.objects.create(collection="rare", content_hash="rare", text="z")  # 0.5% of the rows

    def pick(i: int) -> Document:
        return rare if i % 200 == 0 else other if i % 10 == 0 else document

    chunks = Chunk.objects.bulk_create(
        Chunk(document=pick(i), seq=i, text=str(i), start=0, token_count=1, content_hash=str(i)) for i in range(ROWS)
    )
    rng = np.random.default_rng(7)
    values = rng.standard_normal((ROWS, DIMENSIONS)).astype(np.float32)
    values /= np.linalg.norm(values, axis=1, keepdims=True)
    with connection.schema_editor() as editor:
        for index in vector_indexes():
            editor.remove_index(Embedding, index)
    with transaction.atomic():
        vectors_store(model="plan-model", dimensions=DIMENSIONS, vectors={c.pk: v for c, v in zip(chunks, values)})
    with connection.schema_editor() as editor:
        for index in vector_indexes():
            editor.add_index(Embedding, index)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return rng


def test_search_is_served_by_the_hnsw_index_and_a_filtered_search_returns_k_hits(vectors: np.random.Generator):
    query = vectors.standard_normal(DIMENSIONS).astype(np.float32)
    for collection in (None, "plan"):  # one data set for every check: loading and indexing it is the cost
        plan = nearest_embeddings(vector=query, model="plan-model", viewer=None, k=5, collection=collection).explain()
        assert "Index Scan using embedding_vector_hnsw" in plan, (collection, plan[:400])

    hits = chunk_search(vector=query, model="plan-model", viewer=None, k=10, collection="rare")  # 40 rows qualify
    assert len(hits) == 10 and all(hit.chunk.document.collection == "rare" for hit in hits)
    similarities = [hit.similarity for hit in hits]
    assert similarities == sorted(similarities, reverse=True)
    rare = Chunk.objects.filter(document__collection="rare").values_list("embeddings__vector", flat=True)
    exact = sorted((float(np.dot(np.asarray(v), query) / np.linalg.norm(query)) for v in rare), reverse=True)
    assert similarities[0] >= exact[2] - 1e-4, "the index missed the nearest rows of the collection"
