"""The batch lane end to end: real workers and beat, the simulator's Batch API, PostgreSQL and Redis.

Money is counted where it is billed: the simulator's ``/stats`` counts every input a finished
batch's completed lines carried (``batch.inputs_served``) apart from ``/v1/embeddings``' own
count (``inputs``), so "exactly once" and "nothing paid twice" are read per distinct input,
across both lanes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import openai
import pytest

from project.embeddings.jobs.cost import job_cost_usd, job_saved_usd, job_usd
from project.embeddings.jobs.lifecycle import job_cancel, job_create, job_start
from project.embeddings.models import Batch, BatchState, Chunk, Document, Embedding, EmbeddingJob, FailedChunk, Lane
from project.pipeline import watch_job
from simulator.errors import API_REFERENCE_HINT
from tests.pipeline.helpers import ingest

POLL = 0.3  # seconds between beat's batch polls
# At window 1 s the simulator's clock runs 60x: a batch takes --batch-seconds / 60 of real time.
BATCH_SECONDS = ["--batch-seconds", "60"]


def _paid(sim_stats: dict) -> dict[str, int]:
    """Inputs the provider billed, per sha256 of the input's text, on both lanes together."""
    paid: dict[str, int] = dict(sim_stats["inputs"]["per_input"])
    for digest, times in sim_stats["batch"]["inputs_served"]["per_input"].items():
        paid[digest] = paid.get(digest, 0) + times
    return paid


def _digests(documents) -> set[str]:
    texts = Chunk.objects.filter(document__in=documents).values_list("text", flat=True)
    return {hashlib.sha256(text.encode()).hexdigest() for text in texts}


def _start(rig, *, extra=(), workers=2, **values):
    rig.start(rpm=600, tpm=60_000, window=1.0, workers=workers, concurrency=2, beat=True,
              extra_args=(*BATCH_SECONDS, *extra), TOLLGATE_BATCH_POLL_SECONDS=POLL, **values)  # fmt: skip


def test_a_batch_lane_job_embeds_every_chunk_once_through_batches_alone(rig):
    documents = ingest(240, words=30)
    _start(rig, TOLLGATE_GROUP_TOKENS=2_000, TOLLGATE_BATCH_TOKENS=6_000)
    job = rig.embed(documents, lane=Lane.BATCH)

    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    assert job.lane == Lane.BATCH and job.embedded_chunks == 240 and job.failed_chunks == 0
    assert Embedding.objects.filter(chunk__document__in=documents).count() == 240
    stats = rig.simulator.stats()
    assert stats["requests"] == 0  # not one call to /v1/embeddings
    assert _paid(stats) == dict.fromkeys(_digests(documents), 1)  # every input billed exactly once
    batches = Batch.objects.filter(job=job)
    assert batches.count() > 1 and set(batches.values_list("state", flat=True)) == {BatchState.DONE}
    assert stats["batch"]["created"] == batches.count()
    # paid on the batch lane: half the price, and the discount counted as saved
    assert job.batch_tokens == job.embedded_tokens == stats["batch"]["usage_tokens"]
    assert job_cost_usd(job) == pytest.approx(job_usd(job.model, job.embedded_tokens) / 2, abs=1e-6)
    assert job_saved_usd(job) == pytest.approx(job_usd(job.model, job.embedded_tokens) / 2, abs=1e-6)


def test_more_tokens_than_the_queue_limit_wait_for_room_and_never_exceed_it(rig):
    documents = ingest(240, words=30)
    queue = 2_500
    _start(rig, extra=("--batch-queue-tokens", str(queue), "--batch-seconds", "120"),
           TOLLGATE_GROUP_TOKENS=1_000, TOLLGATE_BATCH_QUEUE_TOKENS=queue, TOLLGATE_BATCH_TOKENS=1_200)  # fmt: skip
    job = rig.embed(documents, lane=Lane.BATCH)

    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    assert job.total_tokens > 3 * queue  # the work needed several turns of the queue
    stats = rig.simulator.stats()
    assert 0 < stats["batch"]["max_enqueued_tokens"] <= queue  # the server's own count
    assert stats["batch"]["batches"]["failed"] == 0  # none refused: they waited for room instead
    assert _paid(stats) == dict.fromkeys(_digests(documents), 1)


def test_a_full_queue_refusal_lowers_the_belief_and_the_job_still_completes(rig):
    """Our configured limit is above the server's: its refusal makes us wait, and nothing is paid twice."""
    documents = ingest(120, words=30)
    _start(rig, extra=("--batch-queue-tokens", "3000"),
           TOLLGATE_GROUP_TOKENS=1_000, TOLLGATE_BATCH_QUEUE_TOKENS=20_000, TOLLGATE_BATCH_TOKENS=2_500)  # fmt: skip
    job = rig.embed(documents, lane=Lane.BATCH)

    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    refused = Batch.objects.filter(job=job, state=BatchState.FAILED)
    assert refused.exists() and "Enqueued token limit reached" in refused.first().last_error
    assert _paid(rig.simulator.stats()) == dict.fromkeys(_digests(documents), 1)


@pytest.mark.parametrize("fallback", ["resubmit", "sync"])
def test_an_expired_batch_keeps_its_completed_part_and_sends_the_rest_again(rig, fallback):
    documents = ingest(160, words=30)
    # a 24 h window of 3 s: the batch stalls part-done and expires then
    _start(rig, extra=("--batch-expire-rate", "1", "--batch-window-seconds", "180"), TOLLGATE_GROUP_TOKENS=1_000,
           TOLLGATE_BATCH_TOKENS=100_000,
           TOLLGATE_BATCH_FALLBACK=fallback)  # fmt: skip
    job = job_create(documents=documents, lane=Lane.BATCH)
    job_start(job=job)
    first = _first_finished(job)
    assert first.remote_status == "expired" and 0 < first.completed < first.requests
    rig.simulator.configure(batch_expire_rate=0.0)  # the next batch runs to the end
    job = watch_job(job.pk, progress=False)

    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    assert job.embedded_chunks == 160 and job.failed_chunks == 0
    stats = rig.simulator.stats()
    assert _paid(stats) == dict.fromkeys(_digests(documents), 1)  # the expired part was stored, not paid again
    if fallback == "sync":
        assert stats["requests"] > 0 and Batch.objects.filter(job=job).count() == 1
        assert 0 < job.batch_tokens < job.embedded_tokens  # the rest at the sync price
    else:
        assert stats["requests"] == 0 and Batch.objects.filter(job=job).count() >= 2


def test_cancelling_the_job_cancels_its_running_batch_and_keeps_what_it_completed(rig):
    documents = ingest(200, words=30)
    _start(rig, extra=("--batch-seconds", "600"), TOLLGATE_GROUP_TOKENS=500, TOLLGATE_BATCH_TOKENS=100_000)  # 10 s
    job = job_create(documents=documents, lane=Lane.BATCH)
    job_start(job=job)
    _wait(lambda: Batch.objects.filter(job=job, remote_status="in_progress").exists())
    _wait(lambda: Batch.objects.filter(job=job, completed__gt=0).exists())  # some lines ran
    job_cancel(job_id=job.pk)
    batch = _wait(lambda: Batch.objects.filter(job=job, state=BatchState.DONE).first())

    stats = rig.simulator.stats()
    assert batch.remote_status == "cancelled" and stats["batch"]["batches"]["cancelled"] == 1
    job.refresh_from_db()
    assert job.status == EmbeddingJob.Status.CANCELLED
    assert 0 < job.embedded_chunks < 200  # the lines it ran before the cancel were paid for: stored
    paid = _paid(stats)
    assert set(paid.values()) == {1} and len(paid) == job.embedded_chunks
    assert stats["batch"]["created"] == 1  # nothing sent after the cancel


def _wait(found, timeout: float = 60.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def _first_finished(job: EmbeddingJob, timeout: float = 60.0) -> Batch:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = Batch.objects.filter(job=job, state=BatchState.DONE).order_by("pk").first()
        if batch is not None:
            return batch
        time.sleep(0.1)
    raise AssertionError(f"no batch of job {job.pk} finished in {timeout} s")


def test_failed_lines_fail_their_chunks_with_the_api_message_and_the_rest_are_stored(rig):
    documents = ingest(160, words=30)
    _start(rig, extra=("--batch-line-error-rate", "0.3", "--seed", "7"), TOLLGATE_GROUP_TOKENS=500)
    job = rig.embed(documents, lane=Lane.BATCH)

    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    assert 0 < job.failed_chunks < 160 and job.embedded_chunks + job.failed_chunks == 160
    reasons = set(FailedChunk.objects.filter(job=job).values_list("reason", flat=True))
    assert reasons == {f"'$.input' is invalid. {API_REFERENCE_HINT}"}  # the API's own message, per line
    assert Embedding.objects.filter(chunk__document__in=documents).count() == job.embedded_chunks


def test_a_batch_that_fails_validation_fails_its_chunks_with_the_reason_and_pays_nothing(rig):
    documents = ingest(40, words=30)
    _start(rig, extra=("--batch-validation-failure-rate", "1"), TOLLGATE_GROUP_TOKENS=1_000)
    job = rig.embed(documents, lane=Lane.BATCH)

    assert job.status == EmbeddingJob.Status.COMPLETED and job.failed_chunks == 40 and job.embedded_chunks == 0
    reasons = set(FailedChunk.objects.filter(job=job).values_list("reason", flat=True))
    assert len(reasons) == 1 and reasons.pop().startswith("the Batch API refused the batch: validation_failed: ")
    assert job.embedded_tokens == 0 and rig.simulator.stats()["batch"]["usage_tokens"] == 0


def test_a_document_deleted_while_its_batch_runs_shifts_no_other_chunk_onto_its_neighbours_vector(rig):
    """A line's results are matched to its inputs by what was sent, never by position: a document
    deleted while its batch runs loses its (paid) vector, every other chunk gets its own, and a
    failed line fails only the chunks still there."""
    documents = ingest(60, words=30)
    _start(rig, extra=("--batch-seconds", "300", "--batch-line-error-rate", "0.25", "--seed", "7"),  # 5 s
           TOLLGATE_GROUP_TOKENS=500, TOLLGATE_BATCH_TOKENS=100_000)  # fmt: skip
    job = job_create(documents=documents, lane=Lane.BATCH)
    job_start(job=job)
    _wait(lambda: Batch.objects.filter(job=job, state=BatchState.SUBMITTED).exists())
    lines = list(job.groups.order_by("pk").values_list("chunk_ids", flat=True))
    assert len(lines) > 1 and all(len(chunk_ids) > 2 for chunk_ids in lines)
    gone = [chunk_ids[0] for chunk_ids in lines]  # the first input of every line: all the others would shift
    Document.objects.filter(chunks__in=gone).delete()
    job = watch_job(job.pk, progress=False)

    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    kept = list(Chunk.objects.filter(document__in=documents).order_by("pk").values_list("pk", "text"))
    failed = set(FailedChunk.objects.filter(job=job).values_list("chunk_id", flat=True))
    assert len(kept) == 60 - len(gone) and 0 < len(failed) < len(kept)
    assert job.failed_chunks == len(failed) and job.embedded_chunks == len(kept) - len(failed)
    stored = dict(Embedding.objects.filter(chunk_id__in=[pk for pk, _ in kept]).values_list("chunk_id", "vector"))
    client = openai.OpenAI(base_url=rig.simulator.base_url, api_key="test-key", max_retries=0)
    truth = client.embeddings.create(model=job.model, dimensions=job.dimensions, input=[text for _, text in kept])
    wrong = [pk for (pk, _), item in zip(kept, truth.data, strict=True) if pk not in failed
             and (pk not in stored or not np.allclose(np.asarray(stored[pk]), item.embedding, atol=1e-6))]  # fmt: skip
    assert wrong == []  # each chunk holds the vector of its own text
    assert job.batch_tokens == rig.simulator.stats()["batch"]["usage_tokens"]  # the dropped inputs were paid: counted


CRASH = Path(__file__).with_name("batch_crash.py")


def test_a_driver_killed_after_upload_and_after_create_leaves_one_batch_per_group(rig):
    """A driver dies right after the upload, another right after the create: the file and the batch
    they made are found again by the batch's key, never made twice."""
    documents = ingest(80, words=30)
    _start(rig, workers=0, TOLLGATE_GROUP_TOKENS=1_000, TOLLGATE_BATCH_TOKENS=100_000)
    job = job_create(documents=documents, lane=Lane.BATCH)
    job_start(job=job)
    for step, state in (("upload", BatchState.UPLOADING), ("create", BatchState.CREATING)):
        crashed = subprocess.run([sys.executable, str(CRASH), step], env=os.environ.copy(), capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
        assert crashed.returncode == 137, crashed.stdout + crashed.stderr
        assert list(Batch.objects.filter(job=job).values_list("state", flat=True)) == [state]
    rig.start_workers(2, concurrency=2, beat=True)
    job = watch_job(job.pk, progress=False)

    assert job.status == EmbeddingJob.Status.COMPLETED, job.last_error
    stats = rig.simulator.stats()
    assert stats["batch"]["created"] == 1 and Batch.objects.filter(job=job).count() == 1
    assert stats["batch"]["files_uploaded"] == 1  # the file the first driver uploaded was found and used
    assert _paid(stats) == dict.fromkeys(_digests(documents), 1)


def test_auto_takes_the_batch_lane_for_a_large_job_and_the_sync_lane_for_a_small_one(db, settings):
    settings.TOLLGATE_BATCH_AUTO_TOKENS = 2_000
    small, large = ingest(3, words=30, prefix="small "), ingest(60, words=30, prefix="large ")
    assert job_create(documents=small, lane="auto").lane == Lane.SYNC
    assert job_create(documents=large, lane="auto").lane == Lane.BATCH
    # a deadline shorter than the Batch API's 24 h window keeps even a large job on the sync lane
    assert job_create(documents=large, lane="auto", deadline_hours=2).lane == Lane.SYNC
    assert job_create(documents=small, lane="batch").lane == Lane.BATCH
