"""Bulk mode through real workers: a backfill loads into segments, workers index each, searches never miss.

Segments are small here (at least 200 rows, doubling) so a 900-chunk job fills several: the worker that stores a
segment's last rows closes it, a worker builds its index while the job loads the next, and the
last is built when the job completes, before ``tollgate run`` would report it searchable.
"""

from __future__ import annotations

import time

import numpy as np

from project.embeddings.index.cover import search_cover
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import Chunk, Embedding, EmbeddingJob, IndexRange, Segment
from project.embeddings.search.chunks import chunk_search
from project.pipeline import watch_index, watch_job
from tests.pipeline.helpers import ingest

CHUNKS, SEGMENT_ROWS = 900, 200


def test_a_backfill_loads_in_segments_each_indexed_by_a_worker_and_always_searchable(rig):
    documents = ingest(CHUNKS, words=30)
    rig.start(
        rpm=600, tpm=60_000, window=1.0, workers=2, concurrency=2,
        TOLLGATE_BULK_MIN_CHUNKS=500, TOLLGATE_SEGMENT_ROWS=SEGMENT_ROWS, TOLLGATE_GROUP_TOKENS=2_000,
    )  # fmt: skip
    job = job_create(documents=documents)
    job_start(job=job)
    job.refresh_from_db()
    assert job.load_segment != 0, "a job of 900 chunks (>= 500) loads in bulk mode"

    # While it loads, every stored row is found: search for stored vectors themselves.
    checked, deadline = 0, time.monotonic() + 60
    while EmbeddingJob.objects.get(pk=job.pk).status == EmbeddingJob.Status.RUNNING and time.monotonic() < deadline:
        sample = list(Embedding.objects.order_by("?").values_list("chunk_id", "vector")[:3])
        for chunk_id, vector in sample:
            hits = chunk_search(vector=np.asarray(vector), model=job.model, viewer=None, k=3)
            assert hits and hits[0].chunk.pk == chunk_id or hits[0].similarity > 0.9999
            checked += 1
        time.sleep(0.3)

    job = watch_job(job.pk, progress=False)
    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    assert watch_index(job, progress=False) == "indexed"
    assert checked > 0
    segments = Segment.objects.filter(job=job)
    assert segments.count() >= 3  # it rolled over as each filled: 200, 200, 400, the rest
    assert not segments.filter(state=Segment.State.OPEN).exists()
    assert search_cover().exact == ()  # every row is in a ready index
    assert Embedding.objects.filter(segment__in=segments.values("pk")).count() == Chunk.objects.count() == CHUNKS
    assert IndexRange.objects.filter(state=IndexRange.State.READY).exists()
