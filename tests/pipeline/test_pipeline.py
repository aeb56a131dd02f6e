"""The whole pipeline with real worker processes, Redis, PostgreSQL+pgvector and the simulator.

Windows are one second (the simulator's --time-scale 60), so a "minute" of limits passes
quickly and every test runs against a limit that binds.
"""

from __future__ import annotations

import math
import time

from django.db.models import Count

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.jobs.lifecycle import job_create, job_resume, job_start
from project.embeddings.models import Chunk, Document, Embedding, EmbeddingGroup, EmbeddingJob, FailedChunk
from project.pipeline import watch_job
from providers.tokenization import encoding_for_model
from tests.pipeline.helpers import ingest

COMPLETED = EmbeddingJob.Status.COMPLETED


def assert_each_chunk_embedded_once(documents: list[Document], model: str = "text-embedding-3-small") -> None:
    chunks = Chunk.objects.filter(document__in=documents)
    per_chunk = chunks.annotate(n=Count("embeddings")).values_list("n", flat=True)
    assert set(per_chunk) == {1}
    assert Embedding.objects.filter(chunk__in=chunks, model=model).count() == chunks.count()


def test_four_workers_embed_everything_once_within_the_limits(rig):
    documents = ingest(1000, words=30)  # about 35,000 tokens: six windows of the 6,000-token limit
    rig.start(rpm=60, tpm=6_000, window=1.0, workers=4, TOLLGATE_GROUP_TOKENS=1_000)

    job = rig.embed(documents)

    assert job.status == COMPLETED, job.last_error
    assert job.embedded_chunks == job.total_chunks == 1000 and job.failed_chunks == 0
    assert_each_chunk_embedded_once(documents)
    stats = rig.simulator.stats()
    assert sum(stats["rate_limited"].values()) == 0, stats
    assert job.http_429 == 0
    assert stats["max_tokens_in_window"] <= 6_000 and stats["max_requests_in_window"] <= 60
    assert job.limiter_waits > 0  # the limit, not the workers' speed, paced the run


def test_workers_killed_mid_run_lose_nothing_and_re_pay_only_what_was_in_flight(rig):
    documents = ingest(1200, words=30)
    # a claim's lease: the request timeout, the gate's waits in place and the stall time (about 10 s)
    rig.start(rpm=40, tpm=12_000, window=1.0, workers=4, TOLLGATE_STALL_SECONDS=3.0, TOLLGATE_REQUEST_TIMEOUT=1.0)
    job = job_create(documents=documents)
    job_start(job=job)
    deadline = time.monotonic() + 30
    while EmbeddingJob.objects.get(pk=job.pk).embedded_chunks < 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    for process in rig.pool.processes[:2]:
        process.kill()  # kill -9: whatever they held is only in the broker's unacked set now

    job = watch_job(job.pk, progress=False, pool=rig.pool)  # the launcher replaces them, as `tollgate run` does

    assert job.status == COMPLETED, job.last_error
    assert job.embedded_chunks == 1200
    assert_each_chunk_embedded_once(documents)
    assert rig.pool.replaced == 2
    served = rig.simulator.stats()["inputs"]["per_input"]
    assert len(served) == 1200
    biggest = max(len(group.chunk_ids) for group in EmbeddingGroup.objects.filter(job=job))
    assert sum(times - 1 for times in served.values()) <= 2 * biggest  # at most the two requests in flight


def test_an_input_the_api_rejects_fails_alone_with_the_reason(rig):
    documents = ingest(60)
    bad = Chunk.objects.create(document=documents[7], seq=99, text="", start=0, token_count=1, content_hash="empty")
    rig.start(rpm=100, tpm=50_000, window=1.0, workers=2)

    job = rig.embed(documents)

    assert job.status == COMPLETED
    failure = FailedChunk.objects.get(job=job)
    assert failure.chunk_id == bad.pk and "'$.input' is invalid" in failure.reason
    assert job.failed_chunks == 1 and job.embedded_chunks == 60
    assert not Embedding.objects.filter(chunk=bad).exists()

    requests_before = rig.simulator.stats()["requests"]
    job_resume(job_id=job.pk, retry_failed=True)  # e.g. after fixing the cause
    job = watch_job(job.pk, progress=False)
    assert job.status == COMPLETED and job.failed_chunks == 1 and job.embedded_chunks == 60
    assert rig.simulator.stats()["requests"] == requests_before + 1  # only the failed chunk was tried again


def test_an_invalid_key_pauses_the_job_after_at_most_one_request_per_worker(rig):
    documents = ingest(200)
    rig.start(rpm=100, tpm=50_000, window=1.0, workers=3, extra_args=("--api-key", "the-right-key"),
              api_key="a-wrong-key")  # fmt: skip

    job = rig.embed(documents)

    assert job.status == EmbeddingJob.Status.PAUSED
    assert "rejected the credentials (401)" in job.last_error
    assert "a-wrong-key" not in job.last_error
    assert 1 <= rig.simulator.stats()["requests"] <= 3
    assert job.embedded_chunks == 0


def test_503_bursts_and_hangs_are_retried_until_done(rig):
    documents = ingest(300)
    rig.start(
        rpm=200, tpm=100_000, window=1.0, workers=3, concurrency=2,
        extra_args=("--error-503-rate", "0.3", "--hang-rate", "0.05", "--hang-seconds", "3", "--drop-rate", "0.05"),
        TOLLGATE_REQUEST_TIMEOUT=1.0, TOLLGATE_MAX_ATTEMPTS=30, TOLLGATE_MAX_BACKOFF_SECONDS=0.5,
        TOLLGATE_GROUP_TOKENS=600,  # many requests through the faults, not the two a short job's groups make
    )  # fmt: skip

    job = rig.embed(documents)

    assert job.status == COMPLETED, job.last_error
    assert job.embedded_chunks == 300 and job.failed_chunks == 0
    errors = rig.simulator.stats()["errors"]
    assert errors.get("503", 0) > 0
    assert_each_chunk_embedded_once(documents)


def test_running_unchanged_input_again_calls_the_api_zero_times(rig):
    rig.start(rpm=100, tpm=50_000, window=1.0, workers=2)
    first = rig.embed(ingest(100))
    assert first.status == COMPLETED
    requests_before = rig.simulator.stats()["requests"]

    again = rig.embed(ingest(100))  # the same texts: the same documents, already embedded

    assert again.status == COMPLETED and again.total_chunks == 0 and again.requests == 0
    assert rig.simulator.stats()["requests"] == requests_before


def test_long_input_policies_give_their_documented_shapes(rig):
    rig.start(rpm=100, tpm=100_000, window=1.0, workers=2)
    sentence = "The gate holds the road to what it can carry, and no more than that. "
    long_text = sentence * 1500  # about 24,000 tokens: three times the model's input limit

    shapes = {}
    for policy in ("split", "truncate", "average"):
        report = document_ingest(
            texts=[TextInput(long_text, source=policy)], collection=policy, whole_documents=True,
            long_input_policy=policy,
        )  # fmt: skip
        job = rig.embed(report.documents, long_input_policy=policy)
        assert job.status == COMPLETED, job.last_error
        chunks = Chunk.objects.filter(document__in=report.documents)
        vectors = [e.vector for e in Embedding.objects.filter(chunk__in=chunks)]
        shapes[policy] = (chunks.count(), len(vectors), [math.sqrt(sum(float(x) ** 2 for x in v)) for v in vectors])
        if policy == "split":
            split_tokens = list(chunks.values_list("token_count", flat=True))

    total = len(encoding_for_model("text-embedding-3-small").encode_ordinary(long_text))
    assert shapes["split"][0] == shapes["split"][1] >= math.ceil(total / 8192)  # one vector per piece
    assert max(split_tokens) <= 8192 and sum(split_tokens) == total  # cut where the model's limit forces it
    assert shapes["truncate"][:2] == (1, 1)  # one chunk, one vector of its first 8,192 tokens
    assert shapes["average"][:2] == (1, 1)  # one chunk, one token-weighted mean vector
    assert abs(shapes["average"][2][0] - 1.0) < 1e-4  # re-normalized to unit length
    assert rig.simulator.stats()["errors"] == {}  # nothing over the limit ever reached the API
