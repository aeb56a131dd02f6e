"""Forming batches from a batch-lane job's groups: within the API's caps, every group in exactly one batch."""

from __future__ import annotations

import pytest

from project.embeddings.batches.forming import FORM_AHEAD, batch_content, batches_form
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import Batch, BatchState, EmbeddingGroup, GroupState, Lane
from project.provider import provider_config
from providers import batch as remote
from tests.pipeline.helpers import ingest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def batch_job(settings, django_capture_on_commit_callbacks):
    settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = "http://127.0.0.1:9/v1", "test-key"  # never called
    settings.TOLLGATE_GROUP_TOKENS = 200  # groups of about five chunks

    def make(count: int):
        job = job_create(documents=ingest(count, words=30), lane=Lane.BATCH)
        with django_capture_on_commit_callbacks():  # the driver's task is not sent: no broker here
            job_start(job=job)
        return job

    return make


def test_batches_keep_within_the_line_input_and_byte_caps(batch_job, settings, monkeypatch):
    settings.TOLLGATE_BATCH_TOKENS = 10**9  # only the API's caps cut
    job = batch_job(60)
    line = max(len(remote.request_line(str(g.pk), provider_config(), ["x" * 200] * 5)) for g in job.groups.all())
    monkeypatch.setattr(remote, "MAX_BATCH_REQUESTS", 4)
    monkeypatch.setattr(remote, "MAX_BATCH_INPUTS", 12)
    monkeypatch.setattr(remote, "MAX_BATCH_BYTES", 3 * line)
    groups = EmbeddingGroup.objects.filter(job=job).count()
    formed = []
    while made := batches_form(job):
        formed += made
        Batch.objects.filter(pk__in=[b.pk for b in made]).update(state=BatchState.SUBMITTED)  # as if sent

    assert len(formed) > 1
    for batch in formed:
        content = batch_content(batch, provider_config())
        assert batch.requests <= 4 and batch.inputs <= 12 and len(content) <= 3 * line
        assert batch.requests == content.count(b"\n") == batch.groups.count()
    members = list(EmbeddingGroup.objects.filter(job=job).values_list("batch_id", "state"))
    assert len(members) == groups and all(batch is not None and state == GroupState.CLAIMED for batch, state in members)


def test_a_batch_holds_at_most_the_configured_tokens_and_a_few_wait_formed(batch_job, settings):
    settings.TOLLGATE_BATCH_TOKENS = 500
    job = batch_job(150)  # about 5,000 tokens: more batches than are formed ahead
    formed = batches_form(job)
    assert len(formed) == FORM_AHEAD  # the rest waits until these are submitted
    assert all(0 < batch.tokens <= 500 for batch in formed)
    assert EmbeddingGroup.objects.filter(job=job, state=GroupState.PENDING, batch=None).exists()
