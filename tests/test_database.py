"""The migrated schema on real PostgreSQL + pgvector: vectors round-trip and sort by cosine."""

import math
import random

import pytest
from django.db import IntegrityError, connection, transaction
from pgvector.django import CosineDistance

from project.embeddings.models import Chunk, Document, Embedding

pytestmark = pytest.mark.django_db


def _unit(seed: int, dims: int = 1536) -> list[float]:
    rng = random.Random(seed)
    values = [rng.gauss(0, 1) for _ in range(dims)]
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


def _chunk(seq: int) -> Chunk:
    document, _ = Document.objects.get_or_create(collection="db-test", content_hash="h", defaults={"text": "x"})
    return Chunk.objects.create(document=document, seq=seq, text=f"chunk {seq}", start=0, token_count=2, content_hash=str(seq))


def test_vector_extension_is_installed_by_the_migration():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
    assert version.startswith("0.")


def test_hnsw_cosine_index_exists():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'embedding_vector_hnsw'")
        (definition,) = cursor.fetchone()
    assert "hnsw" in definition and "vector_cosine_ops" in definition


def test_a_1536_vector_round_trips_and_is_found_first_by_cosine_distance():
    vectors = {seq: _unit(seq) for seq in range(20)}
    Embedding.objects.bulk_create(
        Embedding(chunk=_chunk(seq), model="m", dimensions=1536, vector=vector) for seq, vector in vectors.items()
    )
    stored = Embedding.objects.get(chunk__seq=7)
    assert len(stored.vector) == 1536
    assert max(abs(a - b) for a, b in zip(stored.vector, vectors[7])) < 1e-6

    nearest = Embedding.objects.order_by(CosineDistance("vector", vectors[7])).first()
    assert nearest.chunk.seq == 7


def test_one_embedding_per_chunk_and_model():
    chunk = _chunk(0)
    Embedding.objects.create(chunk=chunk, model="m", dimensions=1536, vector=_unit(1))
    Embedding.objects.create(chunk=chunk, model="other", dimensions=1536, vector=_unit(2))
    with pytest.raises(IntegrityError), transaction.atomic():
        Embedding.objects.create(chunk=chunk, model="m", dimensions=1536, vector=_unit(3))
