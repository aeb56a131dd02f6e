"""The write path on real PostgreSQL + pgvector: binary COPY, exactly once, float32 in and out."""

from __future__ import annotations

import base64
import threading

import numpy as np
import pytest
from django.db import DataError, connection, transaction

from project.embeddings.models import Chunk, Document, Embedding
from project.embeddings.store.copy import vectors_store
from providers.client import as_float32
from providers.inputs import combine

DIMENSIONS = 1536


def unit(seed: int, dims: int = DIMENSIONS) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


def chunks(count: int, tag: str) -> list[int]:
    document = Document.objects.create(collection=f"store-{tag}", content_hash=tag, text="x")
    rows = Chunk.objects.bulk_create(
        Chunk(document=document, seq=i, text=f"{tag} {i}", start=0, token_count=2, content_hash=f"{tag}{i}")
        for i in range(count)
    )
    return [row.pk for row in rows]


@pytest.mark.django_db(transaction=True)
def test_vectors_are_copied_once_and_read_back_bit_for_bit():
    ids = chunks(50, "once")
    vectors = {cid: unit(cid) for cid in ids}
    with transaction.atomic():
        assert vectors_store(model="m", dimensions=DIMENSIONS, vectors=vectors) == 50
    with transaction.atomic():  # a redelivered task: nothing new, nothing changed
        assert vectors_store(model="m", dimensions=DIMENSIONS, vectors={ids[0]: unit(999)}) == 0
    stored = Embedding.objects.get(chunk_id=ids[0], model="m")
    assert np.array_equal(np.asarray(stored.vector, dtype=np.float32), vectors[ids[0]])
    assert Embedding.objects.filter(chunk_id__in=ids).count() == 50


@pytest.mark.django_db(transaction=True)
def test_two_writers_of_the_same_chunks_store_each_once_and_count_it_once():
    ids = chunks(40, "race")
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def write() -> None:
        try:
            barrier.wait()
            with transaction.atomic():
                counts.append(vectors_store(model="m", dimensions=DIMENSIONS, vectors={cid: unit(cid) for cid in ids}))
        finally:
            connection.close()

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(counts) == [0, 40]
    assert Embedding.objects.filter(chunk_id__in=ids).count() == 40


@pytest.mark.django_db(transaction=True)
def test_a_vector_of_the_wrong_size_is_refused_and_nothing_is_left_behind():
    ids = chunks(2, "size")
    with pytest.raises(DataError, match="expected 1536 dimensions"), transaction.atomic():
        vectors_store(model="m", dimensions=256, vectors={ids[0]: unit(1, 256)})
    with transaction.atomic():  # the connection is usable and the temporary table is empty again
        assert vectors_store(model="m", dimensions=DIMENSIONS, vectors={ids[1]: unit(2)}) == 1
    assert not Embedding.objects.filter(chunk_id=ids[0]).exists()


def test_base64_from_the_wire_decodes_to_the_same_float32_values():
    vector = unit(3)
    decoded = as_float32(base64.b64encode(vector.astype("<f4").tobytes()).decode())
    assert decoded.dtype == np.float32 and np.array_equal(decoded, vector)
    assert np.array_equal(as_float32(vector.tolist()), vector)


def test_combined_pieces_are_a_unit_token_weighted_mean():
    a, b = unit(4), unit(5)
    mean = combine([a, b], [3, 1])
    assert mean.dtype == np.float32 and abs(float(np.linalg.norm(mean)) - 1.0) < 1e-5
    expected = (3 * a.astype(np.float64) + b) / np.linalg.norm(3 * a.astype(np.float64) + b)
    assert np.allclose(mean, expected, atol=1e-6)


@pytest.mark.django_db(transaction=True)
def test_vectors_that_fit_in_a_row_are_kept_there_and_larger_ones_still_store():
    """1,536 float32 values live in the row (no TOAST on the write path); a vector too large for
    a page could not, and the rule says so before PostgreSQL would refuse the row."""
    from project.embeddings.models import vector_inline

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = 'embeddings_embedding'::regclass "
            "AND attname = 'vector'"
        )
        assert cursor.fetchone()[0] == "p"
    assert vector_inline("vector", 1536) and vector_inline("halfvec", 3072)
    assert not vector_inline("vector", 2000) and not vector_inline("vector", 3072)
    ids = chunks(3, "inline")
    vectors = {cid: unit(cid) for cid in ids}
    with transaction.atomic():
        assert vectors_store(model="m", dimensions=DIMENSIONS, vectors=vectors) == 3
    with connection.cursor() as cursor:  # nothing went out of line
        cursor.execute(
            "SELECT pg_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'embeddings_embedding'::regclass"
        )
        assert cursor.fetchone()[0] == 0
