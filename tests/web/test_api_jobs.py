"""GET /api/jobs[/{id}[/failures]] and POST /api/jobs/{id}/pause|resume|cancel."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.models import EmbeddingJob, FailedChunk

pytestmark = pytest.mark.django_db
Status = EmbeddingJob.Status


def make_job(owner, **fields) -> EmbeddingJob:
    return EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, owner=owner, **fields)


def test_anonymous_gets_401_everywhere(user):
    job = make_job(user)
    client = APIClient()
    for url in ("/api/jobs", f"/api/jobs/{job.pk}", f"/api/jobs/{job.pk}/failures", "/api/limits", "/api/search?q=x"):
        assert client.get(url).status_code == 401, url
    for action in ("pause", "resume", "cancel"):
        assert client.post(f"/api/jobs/{job.pk}/{action}").status_code == 401


def test_jobs_are_listed_newest_first_in_pages(api, user):
    jobs = [make_job(user) for _ in range(23)]
    first = api.get("/api/jobs").json()
    assert first["count"] == 23 and len(first["results"]) == 20
    assert first["results"][0]["id"] == jobs[-1].pk
    second = api.get(first["next"]).json()
    assert [job["id"] for job in second["results"]] == [job.pk for job in reversed(jobs[:3])]
    assert second["next"] is None


def test_a_job_shows_progress_counters_and_an_eta(api, user):
    job = make_job(user, status=Status.RUNNING, total_chunks=10, total_tokens=1_000_000, total_groups=4, embedded_chunks=3,
                   failed_chunks=1, embedded_tokens=300_000, groups_done=2, requests=3, http_429=1, limiter_waits=5,
                   last_error="boom")  # fmt: skip
    body = api.get(f"/api/jobs/{job.pk}").json()
    assert body["status"] == "running" and body["percent"] == 40.0
    assert body["chunks"] == {"total": 10, "done": 4, "embedded": 3, "failed": 1}
    assert body["tokens"] == {"total": 1_000_000, "done": 300_000}
    assert body["requests"] == {"total": 4, "groups_done": 2, "done": 3, "in_flight": 0}
    assert (body["http_429"], body["limiter_waits"], body["last_error"]) == (1, 5, "boom")
    assert body["eta_seconds"] == 42.0  # not started: 700,000 tokens left at 1,000,000 per 60 s
    assert body["eta_basis"] == "limit"  # nothing measured yet: a floor
    assert body["failures_url"] == f"/api/jobs/{job.pk}/failures"
    assert api.get("/api/jobs/999999").status_code == 404


def test_failed_chunks_are_listed_with_reasons_in_pages(api, user):
    texts = [TextInput(f"Text number {i}.", source=f"t{i}") for i in range(25)]
    documents = document_ingest(texts=texts, owner=user).documents
    job = make_job(user, status=Status.RUNNING)
    for document in documents:
        FailedChunk.objects.create(job=job, chunk=document.chunks.get(), reason=f"400: bad input {document.source}")
    first = api.get(f"/api/jobs/{job.pk}/failures").json()
    assert first["count"] == 25 and len(first["results"]) == 20
    assert first["results"][0]["reason"] == "400: bad input t0" and first["results"][0]["text"] == "Text number 0."
    assert len(api.get(first["next"]).json()["results"]) == 5
    assert api.get("/api/jobs/999999/failures").status_code == 404


def test_pause_resume_cancel(api, user, django_capture_on_commit_callbacks):
    documents = document_ingest(texts=[TextInput("Something to embed later.")], owner=user).documents
    job = make_job(user, status=Status.RUNNING)
    job.documents.set(documents)

    paused = api.post(f"/api/jobs/{job.pk}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert api.post(f"/api/jobs/{job.pk}/pause").status_code == 409

    with django_capture_on_commit_callbacks() as callbacks:
        resumed = api.post(f"/api/jobs/{job.pk}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    assert len(callbacks) == 1  # its pending chunk is enqueued again
    assert api.post(f"/api/jobs/{job.pk}/resume").status_code == 409

    cancelled = api.post(f"/api/jobs/{job.pk}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert api.post(f"/api/jobs/{job.pk}/cancel").status_code == 409
    assert api.post("/api/jobs/999999/pause").status_code == 404
    assert api.get(f"/api/jobs/{job.pk}/pause").status_code == 405


def test_a_completed_job_cannot_be_cancelled(api, user):
    job = make_job(user, status=Status.COMPLETED)
    response = api.post(f"/api/jobs/{job.pk}/cancel")
    assert response.status_code == 409 and "completed" in response.json()["detail"]
