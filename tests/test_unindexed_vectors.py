"""The sign bits a search scans for rows no index covers yet: kept by a trigger, dropped once indexed.

Real PostgreSQL+pgvector: whatever inserts an embedding into a bulk segment (the write path,
a plain INSERT) gives it its bits; the migration gives them to rows loaded before it; the
maintainer deletes them when an index covers the segment or the segment is gone.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from project.embeddings import indexing
from project.embeddings.models import (
    Chunk,
    Document,
    Embedding,
    EmbeddingJob,
    IndexRange,
    Segment,
    UnindexedVector,
)
from project.embeddings.selectors import chunk_search, sign_bits
from project.embeddings.store import vectors_store

pytestmark = pytest.mark.django_db(transaction=True)
DIMENSIONS, MODEL = 1536, "bits-model"
BEFORE, LATEST = ("embeddings", "0008_vector_inline"), ("embeddings", "0009_unindexed_vectors")


def _vectors(rows: int, seed: int = 5) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal((rows, DIMENSIONS)).astype(np.float32)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def _chunks(rows: int, name: str) -> list[Chunk]:
    document = Document.objects.create(collection=name, content_hash=name, text="x")
    return Chunk.objects.bulk_create(
        Chunk(document=document, seq=i, text=str(i), start=0, token_count=1, content_hash=f"{name}{i}")
        for i in range(rows)
    )


def _store(chunks: list[Chunk], values: np.ndarray, segment: int) -> None:
    with transaction.atomic():
        vectors_store(model=MODEL, dimensions=DIMENSIONS, vectors={c.pk: v for c, v in zip(chunks, values)}, segment=segment)


def test_every_insert_into_a_bulk_segment_gets_the_vectors_sign_bits_and_no_live_row_does():
    chunks, values = _chunks(30, "a"), _vectors(30)
    segment = Segment.objects.create()
    _store(chunks[:10], values[:10], 0)
    _store(chunks[10:20], values[10:20], segment.pk)
    with connection.cursor() as cursor:  # not the write path: a plain INSERT … SELECT, as reuse.py's copies are
        cursor.execute(
            f"INSERT INTO {Embedding._meta.db_table} (chunk_id, model, dimensions, input_hash, vector, segment, created_at) "
            f"SELECT c.id, %s, %s, '', e.vector, %s, now() FROM {Chunk._meta.db_table} c "
            f"JOIN {Embedding._meta.db_table} e ON e.chunk_id = c.id - 10 WHERE c.id = ANY(%s)",
            [MODEL, DIMENSIONS, segment.pk, [c.pk for c in chunks[20:]]],
        )
    bits = dict(UnindexedVector.objects.values_list("embedding_id", "bits"))
    bulk = dict(Embedding.objects.filter(segment=segment.pk).values_list("id", "chunk__seq"))
    assert set(bits) == set(bulk) and len(bits) == 20
    for embedding_id, seq in bulk.items():
        assert bits[embedding_id] == sign_bits(values[seq if seq < 20 else seq - 10])


def test_the_bits_go_once_an_index_covers_their_segment_or_the_segment_is_gone():
    chunks, values = _chunks(60, "b"), _vectors(60, seed=6)
    built, dropped = (Segment.objects.create(state=Segment.State.CLOSED) for _ in range(2))
    job = EmbeddingJob.objects.create(model=MODEL, dimensions=DIMENSIONS, status=EmbeddingJob.Status.RUNNING)
    loading = Segment.objects.create(job=job)  # its job still loads it: no build yet
    _store(chunks[:20], values[:20], built.pk)
    _store(chunks[20:40], values[20:40], dropped.pk)
    _store(chunks[40:], values[40:], loading.pk)
    Segment.objects.filter(pk=dropped.pk).delete()  # its rows stay (an emptied job's, say); no search reads them
    assert UnindexedVector.objects.count() == 60

    indexing.maintain()

    assert IndexRange.objects.filter(lo=built.pk, state=IndexRange.State.READY).exists()
    assert set(UnindexedVector.objects.values_list("segment", flat=True)) == {loading.pk}
    query = values[45] + 0.02 * _vectors(1, seed=7)[0]
    assert chunk_search(vector=query, model=MODEL, viewer=None, k=3)[0].chunk.pk == chunks[45].pk


def test_the_migration_gives_bits_to_rows_loaded_before_it():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        chunks, values = _chunks(30, "c"), _vectors(30, seed=8)
        indexed, unindexed = Segment.objects.create(state=Segment.State.CLOSED), Segment.objects.create()
        _store(chunks[:10], values[:10], 0)
        _store(chunks[10:20], values[10:20], indexed.pk)
        _store(chunks[20:], values[20:], unindexed.pk)
        IndexRange.objects.create(lo=indexed.pk, hi=indexed.pk, name="embedding_hnsw_test", state=IndexRange.State.READY)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([LATEST])
    rows = list(UnindexedVector.objects.values_list("embedding_id", "segment"))
    assert {segment for _, segment in rows} == {unindexed.pk} and len(rows) == 10
