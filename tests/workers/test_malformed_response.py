"""A paid 200 whose body cannot be read is never paid again: its chunks fail at once with the reason.

The provider billed the request, so sending it again would pay twice; the tokens are counted,
the group's chunks fail with "the provider's response could not be read: …", and a redelivered
task finds nothing to send.
"""

from __future__ import annotations

import pytest

from project.embeddings.models import EmbeddingGroup, FailedChunk, GroupState
from tests.providers.scripted import Answer, ScriptedProvider
from workers.embedding import embed_group_once

from .conftest import counted

TEXTS = [f"Malformed {i}: the answer came back, but not in a shape anyone can read." for i in range(3)]


def _no_usage(payload: dict) -> dict:
    return {**payload, "usage": None}


def _index_out_of_range(payload: dict) -> dict:
    data = [{**item, "index": item["index"] + 7} for item in payload["data"]]
    return {**payload, "data": data}


def _negative_index(payload: dict) -> dict:
    return {**payload, "data": [{**item, "index": -1 - item["index"]} for item in payload["data"]]}


def _torn_vector(payload: dict) -> dict:
    return {**payload, "data": [{**item, "embedding": item["embedding"][:-8]} for item in payload["data"]]}


@pytest.mark.parametrize("edit", [_no_usage, _index_out_of_range, _negative_index, _torn_vector])
def test_a_paid_response_that_cannot_be_read_fails_its_chunks_once(provider, edit) -> None:
    with ScriptedProvider(lambda attempt, now: Answer(edit=edit)) as server:
        provider.settings.OPENAI_BASE_URL = server.base_url
        job, (group,) = provider.job(TEXTS)

        outcome = embed_group_once(group.pk, holder="task-a")
        again = embed_group_once(group.pk, holder="task-b")  # a redelivery

    assert outcome.retry_in is None and again.retry_in is None
    assert len(server.visits) == 1  # sent once, never again
    assert EmbeddingGroup.objects.get(pk=group.pk).state == GroupState.FAILED
    reasons = set(FailedChunk.objects.filter(job=job).values_list("reason", flat=True))
    assert len(reasons) == 1 and next(iter(reasons)).startswith("the provider's response could not be read: ")
    job = counted(job)
    assert job.failed_chunks == len(TEXTS) and job.requests == 1
    assert job.status == job.Status.COMPLETED  # nothing left to send: done, with its failures
