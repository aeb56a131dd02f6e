"""JobSample: the database samples a job's counters whenever they move (at most once a second)."""

from __future__ import annotations

import pytest
from django.db.models import F

from project.embeddings.jobs.counters import count
from project.embeddings.jobs.tally import fold
from project.embeddings.models import EmbeddingJob
from project.monitoring.models import JobSample
from project.monitoring.timeline import job_timeline

pytestmark = pytest.mark.django_db


def test_counter_updates_are_sampled_once_a_second_and_every_status_change():
    job = EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, total_chunks=10, total_tokens=1000)
    assert not JobSample.objects.filter(job=job).exists()  # created, not moved
    EmbeddingJob.objects.filter(pk=job.pk).update(status="running")
    count(job.pk, embedded_chunks=2, embedded_tokens=200)
    fold(job.pk)  # the tallies move the job's row: a sample
    count(job.pk, embedded_chunks=3, embedded_tokens=300)
    fold(job.pk)  # within the same second: not sampled
    count(job.pk, requests=1)
    fold(job.pk)  # counters a chart does not draw: no sample either
    samples = list(JobSample.objects.filter(job=job).order_by("at"))
    assert [(s.status, s.embedded_chunks) for s in samples] == [("running", 0)]
    EmbeddingJob.objects.filter(pk=job.pk).update(status="paused", embedded_chunks=F("embedded_chunks") + 1)
    last = JobSample.objects.filter(job=job).order_by("at").last()
    assert (last.status, last.embedded_chunks, last.embedded_tokens, last.requests) == ("paused", 6, 500, 1)

    timeline = job_timeline(EmbeddingJob.objects.get(pk=job.pk))
    assert timeline.points and timeline.points[-1].done_chunks == 6  # the bins keep their latest counters
    assert timeline.percent(timeline.points[-1]) == 60.0
    assert timeline.eta_at is None  # paused: no end in sight
