"""Bulk mode on real PostgreSQL+pgvector: segments loaded outside the live index, built, merged.

Searches must stay correct at every step: rows of a segment no index covers yet are found by
their sign bits and ranked exactly (or, filtered by a join, by an exact scan), each ready index
serves its own segments (read with EXPLAIN), and the merged index replaces the segment indexes
without a search ever seeing a row twice. The sign bits of unindexed rows are kept by a trigger,
whoever inserts, given by the migration to rows loaded before it, and deleted once an index
covers their segment or the segment is gone.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from project.embeddings.index import builder
from project.embeddings.index.builder import _build_workers, maintain
from project.embeddings.index.cover import Cover, job_index, search_cover
from project.embeddings.index.segments import segment_filled
from project.embeddings.models import (
    Chunk,
    Document,
    Embedding,
    EmbeddingJob,
    IndexRange,
    Segment,
    UnindexedVector,
)
from project.embeddings.search.chunks import chunk_search, search_transaction
from project.embeddings.search.nearest import nearest_embeddings, sign_bits
from project.embeddings.store.copy import vectors_store

pytestmark = pytest.mark.django_db(transaction=True)
DIMENSIONS, LIVE, PER_SEGMENT = 1536, 400, 3000
MODEL = "bulk-model"
BEFORE = ("embeddings", "0008_vector_inline")  # the last migration before the sign bits


def _unit(rng: np.random.Generator, rows: int) -> np.ndarray:
    values = rng.standard_normal((rows, DIMENSIONS)).astype(np.float32)
    return values / np.linalg.norm(values, axis=1, keepdims=True)


def _load(chunks: list[Chunk], values: np.ndarray, segment: int) -> None:
    with transaction.atomic():
        vectors_store(model=MODEL, dimensions=DIMENSIONS, vectors={c.pk: v for c, v in zip(chunks, values)}, segment=segment)


def _chunks(rows: int, name: str) -> list[Chunk]:
    document = Document.objects.create(collection=name, content_hash=name, text="x")
    return Chunk.objects.bulk_create(
        Chunk(document=document, seq=i, text=str(i), start=0, token_count=1, content_hash=f"{name}{i}")
        for i in range(rows)
    )


def _exact_top(values: np.ndarray, chunk_ids: list[int], query: np.ndarray, k: int) -> list[int]:
    order = np.argsort(-(values @ query))[:k]
    return [chunk_ids[i] for i in order]


def _found(query: np.ndarray, k: int = 10) -> list[int]:
    return [hit.chunk.pk for hit in chunk_search(vector=query, model=MODEL, viewer=None, k=k)]


def test_a_backfill_is_searchable_while_loading_indexed_per_segment_and_merged(monkeypatch):
    # What an index replaces goes at once here (the grace a search that read its cover before it
    # has: test_a_search_that_read_its_cover_before_a_build_ended_still_finds_that_segments_rows).
    monkeypatch.setattr(builder, "STALE_COVER_SECONDS", 0)
    rng = np.random.default_rng(11)
    total = LIVE + 2 * PER_SEGMENT
    document = Document.objects.create(collection="bulk", content_hash="bulk", text="x")
    chunks = Chunk.objects.bulk_create(
        Chunk(document=document, seq=i, text=str(i), start=0, token_count=1, content_hash=str(i)) for i in range(total)
    )
    values = _unit(rng, total)
    ids = [c.pk for c in chunks]
    job = EmbeddingJob.objects.create(model=MODEL, dimensions=DIMENSIONS, status=EmbeddingJob.Status.RUNNING)
    first, second = Segment.objects.create(job=job), Segment.objects.create(job=job)

    _load(chunks[:LIVE], values[:LIVE], 0)
    _load(chunks[LIVE : LIVE + PER_SEGMENT], values[LIVE : LIVE + PER_SEGMENT], first.pk)
    Segment.objects.filter(pk=first.pk).update(state=Segment.State.CLOSED)
    _load(chunks[LIVE + PER_SEGMENT :], values[LIVE + PER_SEGMENT :], second.pk)  # still open: the job loads it
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    # Nothing built yet. The trigger kept the sign bits of every bulk row (not the live ones): an
    # unfiltered search ranks the rows nearest by them exactly, and one filtered by a join (here
    # a collection holding every row) scans every row exactly, so its ten are the exact ten.
    assert UnindexedVector.objects.count() == 2 * PER_SEGMENT
    assert set(UnindexedVector.objects.values_list("segment", flat=True)) == {first.pk, second.pk}
    sources = (3, LIVE + 5, total - 7)  # one row in each part: the live index, each segment
    queries = [values[i] + 0.05 * _unit(rng, 1)[0] for i in sources]
    for query, source in zip(queries, sources):
        assert _found(query)[0] == ids[source]
        found = [hit.chunk.pk for hit in chunk_search(vector=query, model=MODEL, viewer=None, k=10, collection="bulk")]
        assert found == _exact_top(values, ids, query, 10)
    with search_transaction(k=10, viewer=None, collection=None):
        plan = nearest_embeddings(vector=queries[0], model=MODEL, viewer=None, k=10).explain()
    assert "on embeddings_unindexedvector" in plan, plan
    assert re.search(r"Index Scan (on|using) embeddings_embedding_pkey", plan), plan  # joined back by id
    assert job_index(job).state == "loading"
    assert job_index(job).unindexed_rows == 2 * PER_SEGMENT

    # The closed segment gets its own index; the open one is left to its job.
    built = maintain()
    assert [(b.lo, b.hi, b.rows) for b in built] == [(first.pk, first.pk, PER_SEGMENT)]
    assert search_cover() == Cover(ranges=((first.pk, first.pk),), exact=(second.pk,))
    with search_transaction(k=10, viewer=None, collection=None):  # chunk_search's planner settings
        plan = re.sub(r"'\[[^]]*\]'", "q", nearest_embeddings(vector=queries[0], model=MODEL, viewer=None, k=10).explain())
    assert f"Index Scan using embedding_hnsw_{first.pk}_{first.pk}" in plan, plan
    # (Random vectors have no true neighbours beyond the row each query was made from, so recall
    # at 10 means little here; bench/search.py measures it on clustered data.)
    assert [_found(q)[0] for q in queries] == [ids[i] for i in sources]
    assert job_index(job).unindexed_rows == PER_SEGMENT
    assert set(UnindexedVector.objects.values_list("segment", flat=True)) == {second.pk}  # the built one's went

    # The job ends: its last segment is closed and built, then both segments merge into one index.
    EmbeddingJob.objects.filter(pk=job.pk).update(status=EmbeddingJob.Status.COMPLETED)
    built = maintain()
    assert [(b.lo, b.hi) for b in built] == [(second.pk, second.pk), (first.pk, second.pk)]
    assert list(IndexRange.objects.values_list("lo", "hi", "state")) == [(first.pk, second.pk, "ready")]
    assert search_cover() == Cover(ranges=((first.pk, second.pk),), exact=())
    assert job_index(job).state == "indexed"
    assert not UnindexedVector.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'embedding_hnsw_%%'")
        assert [row[0] for row in cursor.fetchall()] == [f"embedding_hnsw_{first.pk}_{second.pk}"]
    for query, source in zip(queries, sources):
        found = _found(query)
        assert len(found) == len(set(found)) == 10 and found[0] == ids[source]
    assert Embedding.objects.count() == total


def test_an_interrupted_build_is_dropped_and_built_again():
    rng = np.random.default_rng(3)
    document = Document.objects.create(collection="bulk", content_hash="again", text="x")
    chunks = Chunk.objects.bulk_create(
        Chunk(document=document, seq=i, text=str(i), start=0, token_count=1, content_hash=str(i)) for i in range(50)
    )
    segment = Segment.objects.create(state=Segment.State.CLOSED)
    _load(chunks, _unit(rng, 50), segment.pk)
    # A maintainer died mid-build: its row says "building", and an invalid index may be left.
    IndexRange.objects.create(lo=segment.pk, hi=segment.pk, name=f"embedding_hnsw_{segment.pk}_{segment.pk}")
    built = maintain()
    assert [(b.lo, b.state) for b in built] == [(segment.pk, "ready")]
    assert IndexRange.objects.count() == 1


def test_near_a_jobs_end_its_open_segment_closes_so_the_build_after_the_last_row_stays_small(settings):
    """Segments double for search's sake, but the one open at a job's end is built after its last
    row: once no more than a segment's rows are left to load, the open segment closes."""
    settings.TOLLGATE_SEGMENT_ROWS = 100
    job = EmbeddingJob.objects.create(
        model=MODEL, dimensions=DIMENSIONS, status=EmbeddingJob.Status.RUNNING, total_chunks=1_000, embedded_chunks=550
    )
    Segment.objects.create(job=job, rows=400, state=Segment.State.CLOSED)
    open_segment = Segment.objects.create(job=job, rows=150)  # under the 400 before it: it would grow on
    EmbeddingJob.objects.filter(pk=job.pk).update(load_segment=open_segment.pk)

    assert not segment_filled(job.pk, open_segment.pk)  # 450 rows still to load
    EmbeddingJob.objects.filter(pk=job.pk).update(embedded_chunks=900, ingesting=True)
    assert not segment_filled(job.pk, open_segment.pk)  # a streaming ingest may add more yet
    EmbeddingJob.objects.filter(pk=job.pk).update(ingesting=False)
    assert segment_filled(job.pk, open_segment.pk)  # 100 left: the tail gets its own segment
    assert Segment.objects.get(pk=open_segment.pk).state == Segment.State.CLOSED
    assert EmbeddingJob.objects.get(pk=job.pk).load_segment not in (0, open_segment.pk)


def test_a_build_beside_loading_takes_no_parallel_worker_and_the_last_one_takes_them(settings):
    settings.TOLLGATE_INDEX_WORKERS = 1
    job = EmbeddingJob.objects.create(model=MODEL, dimensions=DIMENSIONS, status=EmbeddingJob.Status.RUNNING)
    loading = Segment.objects.create(job=job)
    assert _build_workers() == 0  # one core stays with the workers filling the window
    Segment.objects.filter(pk=loading.pk).update(state=Segment.State.CLOSED)
    assert _build_workers() == 1  # everything waits for this one: all the help it may have


def test_several_indexes_keep_a_list_sized_for_the_largest_ones_share_unless_the_search_is_filtered():
    from project.embeddings.search.chunks import EF_SEARCH, ef_search

    def cover(*sizes: int, live_rows: int = 0) -> Cover:
        ranges = tuple((i, i) for i in range(1, len(sizes) + 1))
        return Cover(ranges=ranges, exact=(), rows=dict(zip(ranges, sizes)), live_rows=live_rows)

    assert ef_search(10, cover=cover(100_000)) == EF_SEARCH  # one index: the whole list
    assert ef_search(100, cover=cover(100_000)) == 200  # never fewer candidates than twice the hits asked for
    assert ef_search(10, cover=cover(50_000, 50_000)) == EF_SEARCH // 4  # each holds half: (1/2)**2 of the list
    assert ef_search(10, filtered=True, cover=cover(50_000, 50_000)) == EF_SEARCH
    assert ef_search(10, cover=cover(108_000, 5_000)) == 147  # a merged backfill beside a second job's segment
    assert ef_search(10, cover=cover(5_000, 5_000, live_rows=490_000)) == 154  # the live index holds the most
    assert ef_search(10, cover=cover(*[9_800] * 10)) == 10  # never fewer than k each
    assert ef_search(100, cover=cover(*[9_800] * 10)) == 100

    job = EmbeddingJob.objects.create(model=MODEL, dimensions=DIMENSIONS, status=EmbeddingJob.Status.RUNNING)
    first, second = Segment.objects.create(job=job), Segment.objects.create(job=job)
    for segment, rows in ((first, 30_000), (second, 10_000)):
        IndexRange.objects.create(lo=segment.pk, hi=segment.pk, name=f"i{segment.pk}", rows=rows,
                                  state=IndexRange.State.READY)  # fmt: skip
    read = search_cover(MODEL)  # the builds' counts; no live row of the model: the live index is not read
    assert read.rows == {(first.pk, first.pk): 30_000, (second.pk, second.pk): 10_000} and not read.live
    assert ef_search(10, cover=read) == 90  # 160 * (3/4)**2


def test_every_insert_into_a_bulk_segment_gets_the_vectors_sign_bits_and_no_live_row_does():
    chunks, values = _chunks(30, "a"), _unit(np.random.default_rng(5), 30)
    segment = Segment.objects.create()
    _load(chunks[:10], values[:10], 0)
    _load(chunks[10:20], values[10:20], segment.pk)
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


def test_the_bits_go_once_an_index_covers_their_segment_or_the_segment_is_gone(monkeypatch):
    monkeypatch.setattr(builder, "STALE_COVER_SECONDS", 0)  # no search reads by an older cover
    chunks, values = _chunks(60, "b"), _unit(np.random.default_rng(6), 60)
    built, dropped = (Segment.objects.create(state=Segment.State.CLOSED) for _ in range(2))
    job = EmbeddingJob.objects.create(model=MODEL, dimensions=DIMENSIONS, status=EmbeddingJob.Status.RUNNING)
    loading = Segment.objects.create(job=job)  # its job still loads it: no build yet
    _load(chunks[:20], values[:20], built.pk)
    _load(chunks[20:40], values[20:40], dropped.pk)
    _load(chunks[40:], values[40:], loading.pk)
    Segment.objects.filter(pk=dropped.pk).delete()  # its rows stay (an emptied job's, say); no search reads them
    assert UnindexedVector.objects.count() == 60

    maintain()

    assert IndexRange.objects.filter(lo=built.pk, state=IndexRange.State.READY).exists()
    assert set(UnindexedVector.objects.values_list("segment", flat=True)) == {loading.pk}
    query = values[45] + 0.02 * _unit(np.random.default_rng(7), 1)[0]
    assert chunk_search(vector=query, model=MODEL, viewer=None, k=3)[0].chunk.pk == chunks[45].pk


def test_a_search_reads_only_what_may_hold_its_models_rows():
    """A re-embed's backfill beside the old model's rows: neither model's search reads the other's
    indexes or bits (a filtered HNSW scan of an index without the model reads all of it)."""
    other = "other-model"
    chunks, values = _chunks(70, "m"), _unit(np.random.default_rng(9), 70)
    running = EmbeddingJob.Status.RUNNING
    mine = Segment.objects.create(job=EmbeddingJob.objects.create(model=MODEL, dimensions=DIMENSIONS, status=running))
    theirs = Segment.objects.create(job=EmbeddingJob.objects.create(model=other, dimensions=DIMENSIONS, status=running))
    _load(chunks[:20], values[:20], mine.pk)
    _load(chunks[60:], values[60:], 0)  # the live index holds this model only
    with transaction.atomic():
        theirs_vectors = {c.pk: v for c, v in zip(chunks[20:40], values[20:40])}
        vectors_store(model=other, dimensions=DIMENSIONS, vectors=theirs_vectors, segment=theirs.pk)
    Segment.objects.filter(pk=theirs.pk).update(state=Segment.State.CLOSED)
    assert [(b.lo, b.hi) for b in maintain()] == [(theirs.pk, theirs.pk)]

    def sql(model: str) -> str:
        return nearest_embeddings(vector=values[0], model=model, viewer=None, k=10).sql

    theirs_index = f"segment >= {theirs.pk} AND segment <= {theirs.pk}"
    assert "WHERE segment = 0 " in sql(MODEL) and theirs_index not in sql(MODEL)
    assert "WHERE segment = 0 " not in sql(other) and theirs_index in sql(other)
    assert f"WHERE segment IN ({mine.pk}) ORDER BY bits" in sql(MODEL)  # its own segment, no model compared
    assert UnindexedVector._meta.db_table not in sql(other)
    assert search_cover(other) == Cover(ranges=((theirs.pk, theirs.pk),), exact=(), live=False)
    assert _found(values[5])[0] == chunks[5].pk and _found(values[65])[0] == chunks[65].pk
    assert chunks[25].pk not in _found(values[25])  # the other model's row: not this model's answer
    found = chunk_search(vector=values[25], model=other, viewer=None, k=10)
    assert found[0].chunk.pk == chunks[25].pk and {hit.chunk.pk for hit in found} <= {c.pk for c in chunks[20:40]}
    assert chunk_search(vector=values[25], model="no-such-rows", viewer=None, k=10) == []

    orphan = Segment.objects.create()  # a segment whose job was deleted: its rows' model is unknown
    _load(chunks[40:60], values[40:60], orphan.pk)
    assert f"WHERE model = %s AND segment IN ({mine.pk}, {orphan.pk}) ORDER BY bits" in sql(MODEL)
    assert _found(values[45])[0] == chunks[45].pk
    found = chunk_search(vector=values[45], model=other, viewer=None, k=10)
    assert chunks[45].pk not in [hit.chunk.pk for hit in found] and found[0].chunk.pk in {c.pk for c in chunks[20:40]}


def test_the_migration_gives_bits_to_rows_loaded_before_it():
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    try:
        chunks, values = _chunks(30, "c"), _unit(np.random.default_rng(8), 30)
        indexed, unindexed = Segment.objects.create(state=Segment.State.CLOSED), Segment.objects.create()
        _load(chunks[:10], values[:10], 0)
        _load(chunks[10:20], values[10:20], indexed.pk)
        _load(chunks[20:], values[20:], unindexed.pk)
        ranges = executor.loader.project_state([BEFORE]).apps.get_model("embeddings", "IndexRange")  # its columns then
        ranges.objects.create(lo=indexed.pk, hi=indexed.pk, name="embedding_hnsw_test", state=IndexRange.State.READY)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes("embeddings"))
    rows = list(UnindexedVector.objects.values_list("embedding_id", "segment"))
    assert {segment for _, segment in rows} == {unindexed.pk} and len(rows) == 10


def test_a_search_that_read_its_cover_before_a_build_ended_still_finds_that_segments_rows(monkeypatch):
    """A search reads which segments are indexed, then its rows, in two statements: a build that
    ends between them must not take away the sign bits that search is about to scan, nor a
    merge the segment indexes it is about to read. Both go a grace later, at a later maintain."""
    rng = np.random.default_rng(11)
    chunks, values = _chunks(80, "stale"), _unit(rng, 80)
    job = EmbeddingJob.objects.create(model=MODEL, dimensions=DIMENSIONS, status=EmbeddingJob.Status.RUNNING)
    first, second = Segment.objects.create(job=job), Segment.objects.create(job=job)
    _load(chunks[:40], values[:40], first.pk)
    Segment.objects.filter(pk=first.pk).update(state=Segment.State.CLOSED)
    _load(chunks[40:], values[40:], second.pk)
    query = values[7] + 0.02 * _unit(rng, 1)[0]  # made from a row of the first segment

    def stale_search(cover: Cover) -> list[int]:
        with search_transaction(k=3, viewer=None, collection=None, cover=cover), connection.cursor() as cursor:
            found = nearest_embeddings(vector=query, model=MODEL, viewer=None, k=3, cover=cover)
            cursor.execute(found.sql, found.params)
            return [chunk_id for chunk_id, _ in cursor.fetchall()]

    before_build = search_cover(MODEL)
    assert before_build.exact == (first.pk, second.pk)
    maintain()  # the first segment's index is ready between the cover and the rows
    assert search_cover(MODEL).exact == (second.pk,)
    assert stale_search(before_build)[0] == chunks[7].pk  # by the bits it read the segment through
    assert _found(query)[0] == chunks[7].pk  # a fresh cover reads the new index

    EmbeddingJob.objects.filter(pk=job.pk).update(status=EmbeddingJob.Status.COMPLETED)
    before_merge = search_cover(MODEL)
    built = maintain()  # the second segment's build, then the merge, which retires the first's index
    assert [(b.lo, b.hi) for b in built] == [(second.pk, second.pk), (first.pk, second.pk)]
    with search_transaction(k=3, viewer=None, collection=None, cover=before_merge):
        plan = nearest_embeddings(vector=query, model=MODEL, viewer=None, k=3, cover=before_merge).explain()
    assert f"embedding_hnsw_{first.pk}_{first.pk}" in plan, plan  # the retired index still serves it
    assert stale_search(before_merge)[0] == chunks[7].pk
    assert UnindexedVector.objects.exists()

    monkeypatch.setattr(builder, "STALE_COVER_SECONDS", 0)  # the grace has passed: the next maintain tidies
    maintain()
    assert not UnindexedVector.objects.exists()
    assert list(IndexRange.objects.values_list("lo", "hi", "state")) == [(first.pk, second.pk, "ready")]
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname LIKE 'embedding_hnsw_%%'")
        assert [row[0] for row in cursor.fetchall()] == [f"embedding_hnsw_{first.pk}_{second.pk}"]
    assert _found(query)[0] == chunks[7].pk
