"""Each outcome of one group's life in a worker, against real PostgreSQL, Redis and the simulator.

Stored, retried later (the limiter's wait, a 429), split (a 400 isolates the input at fault),
failed, and a claim lost while the holder stalled: in each, what the simulator served is
counted per input, so "nothing paid twice" is read from the provider's side.
"""

from __future__ import annotations

import hashlib

import openai

from project.embeddings.groups import life
from project.embeddings.groups.sweep import groups_sweep
from project.embeddings.models import Chunk, Embedding, EmbeddingGroup, EmbeddingJob, FailedChunk, GroupState
from project.provider import shared_limiter
from workers.embedding import _backoff, _embed_claimed, embed_group_once

from .conftest import counted, expire

TEXTS = [f"Worker test {i}: the toll gate admits one car at a time on the road." for i in range(4)]


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_claimed_group_is_paid_once_stored_and_its_job_completes(provider):
    job, (group,) = provider.job(TEXTS)

    outcome = embed_group_once(group.pk, holder="task-a")

    assert outcome.retry_in is None
    group.refresh_from_db()
    job = counted(job)
    assert group.state == GroupState.DONE and group.lease_until is None
    assert Embedding.objects.filter(chunk__document__jobs=job).count() == 4
    assert job.status == EmbeddingJob.Status.COMPLETED
    assert (job.embedded_chunks, job.requests, job.groups_done) == (4, 1, 1)
    assert provider.served() == {digest(text): 1 for text in TEXTS}
    # a redelivered task finds it done and sends nothing
    assert embed_group_once(group.pk, holder="task-b").retry_in is None
    assert provider.served() == {digest(text): 1 for text in TEXTS}


def test_a_full_limiter_sends_the_group_back_with_a_lease_covering_the_wait(provider):
    job, (group,) = provider.job(TEXTS)
    limiter = shared_limiter(job.model)
    assert limiter.acquire(provider.settings.TOLLGATE_TPM - 10, pace=False).admitted  # the window is full

    outcome = embed_group_once(group.pk, holder="task-a")

    assert outcome.retry_in is not None and outcome.retry_in > 1.0
    group.refresh_from_db()
    assert group.state == GroupState.PENDING and group.holder == "task-a"
    assert provider.served() == {}  # nothing sent
    assert groups_sweep(job_id=job.pk) == []  # its lease covers the wait: not taken for lost


def test_a_429_counts_and_comes_back_at_the_servers_wait(provider):
    job, (group,) = provider.job(TEXTS)
    provider.simulator.configure(tpm=100)  # the server's limit is below what our limiter believes
    openai.OpenAI(base_url=provider.simulator.base_url, api_key="test-key", max_retries=0).embeddings.create(
        model=job.model, input="word " * 50
    )  # another client of the same key took half of it

    outcome = embed_group_once(group.pk, holder="task-a")

    job = counted(job)
    assert job.http_429 == 1 and job.requests == 1
    assert outcome.retry_in is not None and outcome.retry_in > 0
    assert EmbeddingGroup.objects.get(pk=group.pk).state == GroupState.PENDING
    assert digest(TEXTS[0]) not in provider.served()  # only the other client's input was paid


def test_a_400_splits_the_group_until_the_bad_input_fails_alone(provider):
    job, (group,) = provider.job(TEXTS)
    bad = Chunk.objects.filter(document__jobs=job).order_by("pk")[2]
    Chunk.objects.filter(pk=bad.pk).update(text="")  # the API refuses an empty input with a 400

    embed_group_once(group.pk, holder="task-a")
    for _ in range(4):  # the halves, then their halves
        for pending in EmbeddingGroup.objects.filter(job=job, state=GroupState.PENDING).order_by("pk"):
            embed_group_once(pending.pk, holder=f"task-{pending.pk}")

    job = counted(job)
    failure = FailedChunk.objects.get(job=job)
    assert failure.chunk_id == bad.pk and "input" in failure.reason
    assert job.embedded_chunks == 3 and job.failed_chunks == 1
    assert job.status == EmbeddingJob.Status.COMPLETED
    good = [text for i, text in enumerate(TEXTS) if i != 2]
    assert all(provider.served()[digest(text)] == 1 for text in good)  # each good input paid once


def test_a_single_input_the_api_refuses_fails_with_the_reason_and_is_never_retried(provider):
    job, (group,) = provider.job(TEXTS[:1])
    Chunk.objects.filter(document__jobs=job).update(text="")

    outcome = embed_group_once(group.pk, holder="task-a")

    assert outcome.retry_in is None
    assert EmbeddingGroup.objects.get(pk=group.pk).state == GroupState.FAILED
    assert FailedChunk.objects.filter(job=job).count() == 1
    job = counted(job)
    assert job.status == EmbeddingJob.Status.COMPLETED and job.failed_chunks == 1


def test_a_holder_that_stalled_past_its_lease_never_calls_nor_undoes_the_new_holders_work(provider):
    job, (group,) = provider.job(TEXTS)
    stalled = life.claim(group.pk, holder="task-a")  # A claims … and stalls (GC, a lock wait, a paused VM)
    assert stalled is not None
    expire(group)
    assert groups_sweep(job_id=job.pk) == [group.pk]  # the sweep gives it to another task
    assert embed_group_once(group.pk, holder="task-b").retry_in is None  # B pays and stores
    assert provider.served() == {digest(text): 1 for text in TEXTS}

    outcome = _embed_claimed(stalled, 0)  # A wakes up where it stopped

    assert outcome.retry_in is None
    assert provider.served() == {digest(text): 1 for text in TEXTS}  # A sent nothing
    assert not life.later(stalled, 1.0) and not life.calling(stalled) and not life.fail(stalled)
    group.refresh_from_db()
    assert group.state == GroupState.DONE and group.holder == "task-b"
    job = counted(job)
    assert job.groups_done == 1 and job.embedded_chunks == 4


def test_a_holder_whose_claim_was_taken_mid_retry_does_not_put_the_group_back(provider):
    job, (group,) = provider.job(TEXTS)
    first = life.claim(group.pk, holder="task-a")
    expire(group)
    groups_sweep(job_id=job.pk)
    second = life.claim(group.pk, holder="task-b")
    assert second is not None and second.expirations == 1

    assert not life.later(first, 0)  # A's late "come back later" changes nothing
    assert not life.release(first)
    group.refresh_from_db()
    assert group.state == GroupState.CLAIMED and group.holder == "task-b"
    assert life.later(second, 0)


def test_the_workers_backoff_after_a_transient_error_doubles_up_to_its_cap(settings) -> None:
    """What a worker does with ``Transient``: waits between half and all of 1 s x 2^attempt, capped."""
    settings.TOLLGATE_MAX_BACKOFF_SECONDS = 10.0
    for attempt, ceiling in enumerate([1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]):
        waits = [_backoff(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits), (attempt, min(waits), max(waits))
