"""The page per job: counters, chart, failures, and buttons that work; an unknown job is a 404."""

from __future__ import annotations

import pytest
from django.test import Client

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.jobs.lifecycle import job_create, job_start
from project.embeddings.models import EmbeddingJob, FailedChunk

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def job(provider, user) -> EmbeddingJob:
    """The user's started job of two documents (its tasks wait in the broker: no worker runs here)."""
    provider.OPENAI_API_KEY = "job-page-key"
    texts = [TextInput("First text.", source="a.txt"), TextInput("Second.", source="b.txt")]
    report = document_ingest(texts=texts, owner=user)
    job = job_create(documents=report.documents, owner=user)
    job_start(job=job)
    return EmbeddingJob.objects.get(pk=job.pk)


def test_the_page_shows_counters_chart_and_failures(browser, job):
    page = browser.get(f"/jobs/{job.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Job {job.pk}" in html and f'/dashboard/jobs/{job.pk}/live' in html and f"/dashboard/jobs/{job.pk}/failures" in html
    live = browser.get(f"/dashboard/jobs/{job.pk}/live").content.decode()
    assert f'data-status="{job.status}"' in live and "0 / 2" in live and 'id="chart-job"' in live
    assert 'class="line job job-' in live  # the job's first sample (its start) is a point
    chunk = job.documents.get(source="b.txt").chunks.get()
    FailedChunk.objects.create(job=job, chunk=chunk, reason="400: this input is not allowed")
    failures = browser.get(f"/dashboard/jobs/{job.pk}/failures").content.decode()
    assert "b.txt#0" in failures and "400: this input is not allowed" in failures


def test_pause_resume_and_cancel_from_the_page(browser, job):
    def press(action: str) -> str:
        response = browser.post(f"/dashboard/jobs/{job.pk}/{action}", {"view": "job"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        return response.content.decode()

    assert 'data-status="paused"' in press("pause")
    assert EmbeddingJob.objects.get(pk=job.pk).status == "paused"
    resumed = press("resume")
    assert EmbeddingJob.objects.get(pk=job.pk).status in ("queued", "running")
    assert "pause</button>" in resumed and 'id="chart-job"' in resumed
    assert 'data-status="cancelled"' in press("cancel")
    refused = press("resume")  # a cancelled job cannot be resumed: the reason is shown on the page
    assert 'data-status="cancelled"' in refused and 'class="messages"' in refused
    plain = browser.post(f"/dashboard/jobs/{job.pk}/pause", {"view": "job"})
    assert plain.status_code == 302 and plain["Location"] == f"/jobs/{job.pk}/"


def test_another_jobs_id_that_does_not_exist_is_a_404(browser, job):
    missing = job.pk + 1000
    for url in (f"/jobs/{missing}/", f"/dashboard/jobs/{missing}/live", f"/dashboard/jobs/{missing}/failures"):
        assert browser.get(url).status_code == 404, url
    assert browser.post(f"/dashboard/jobs/{missing}/pause", {"view": "job"}).status_code == 404
    assert EmbeddingJob.objects.get(pk=job.pk).status == job.status  # the real job is untouched


def test_anonymous_visitors_are_sent_to_log_in(client, job):
    for url in (f"/jobs/{job.pk}/", f"/dashboard/jobs/{job.pk}/live", "/dashboard/charts/limits",
                "/dashboard/charts/progress", "/dashboard/workers"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url


def test_another_owners_job_page_is_a_404(job, django_user_model):
    stranger = Client()
    stranger.force_login(django_user_model.objects.create_user(username="grace", password="x"))
    for url in (f"/jobs/{job.pk}/", f"/dashboard/jobs/{job.pk}/live", f"/dashboard/jobs/{job.pk}/failures"):
        assert stranger.get(url).status_code == 404, url
