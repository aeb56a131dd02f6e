"""The dashboard's pages and fragments: login required, CSRF on forms, uploads start jobs."""

from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.models import Document, EmbeddingJob, FailedChunk

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    for url in ("/", "/dashboard/jobs", "/dashboard/limits", "/dashboard/search?q=x"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url


def test_login_with_a_password_and_csrf(user):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    token = page.cookies["csrftoken"].value
    assert client.post("/login/", {"username": "ada", "password": PASSWORD}).status_code == 403  # no CSRF token
    response = client.post("/login/", {"username": "ada", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    html = home.content.decode()
    for part in ('id="jobs"', 'id="limits"', 'id="upload-form"', 'id="search-form"', 'id="failures"', 'id="flower-link"'):
        assert part in html


def test_the_upload_form_needs_its_csrf_token(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/dashboard/upload", {"files": [SimpleUploadedFile("a.txt", b"text")]})
    assert response.status_code == 403 and Document.objects.count() == 0


def test_an_upload_starts_a_job_shown_with_its_progress(browser):
    response = browser.post("/dashboard/upload", {"files": [SimpleUploadedFile("a.txt", b"Some text to embed.")]},
                            follow=True)  # fmt: skip
    assert response.status_code == 200
    job = EmbeddingJob.objects.get()
    assert f"Job {job.pk} (sync lane): 1 new document, 1 chunk to embed." in response.content.decode()
    jobs = browser.get("/dashboard/jobs").content.decode()
    assert f'id="job-{job.pk}"' in jobs and 'data-status="running"' in jobs and "0.0%" in jobs


def test_the_upload_form_chooses_the_batch_lane_and_the_job_page_shows_its_batches(browser):
    home = browser.get("/").content.decode()
    assert '<select name="lane">' in home and 'value="batch"' in home and 'value="auto"' in home
    response = browser.post("/dashboard/upload", {"files": [SimpleUploadedFile("a.txt", b"Some text to embed.")],
                                                  "lane": "batch"}, follow=True)  # fmt: skip
    job = EmbeddingJob.objects.get()
    assert job.lane == "batch" and f"Job {job.pk} (batch lane)" in response.content.decode()
    page = browser.get(f"/dashboard/jobs/{job.pk}/live").content.decode()
    assert "batch (OpenAI Batch API, half price)" in page and "no batch yet" in page


def test_an_unknown_lane_is_reported_and_nothing_is_stored(browser):
    response = browser.post("/dashboard/upload", {"files": [SimpleUploadedFile("a.txt", b"Some text.")],
                                                  "lane": "express"}, follow=True)  # fmt: skip
    assert "unknown lane &#x27;express&#x27;" in response.content.decode()
    assert Document.objects.count() == 0 and EmbeddingJob.objects.count() == 0


def test_an_oversized_upload_is_a_413_page(browser, settings):
    settings.TOLLGATE_MAX_UPLOAD_BYTES = 500
    response = browser.post("/dashboard/upload", {"files": [SimpleUploadedFile("big.txt", b"z" * 2000)]})
    assert response.status_code == 413 and "at most 500 bytes" in response.content.decode()


def test_a_binary_upload_is_reported(browser):
    response = browser.post("/dashboard/upload", {"files": [SimpleUploadedFile("x.bin", bytes(range(256)) * 4)]},
                            follow=True)  # fmt: skip
    assert "x.bin: refused (not UTF-8 text" in response.content.decode() and Document.objects.count() == 0
    assert "Nothing was stored" in response.content.decode()


def test_an_upload_stores_what_it_can_and_lists_each_files_outcome(browser):
    files = [SimpleUploadedFile(f"doc{i}.txt", f"Text number {i} about toll gates.".encode()) for i in range(3)]
    files += [
        SimpleUploadedFile("binary.bin", bytes(range(256)) * 4),
        SimpleUploadedFile("empty.txt", b""),
        SimpleUploadedFile("nul.txt", b"A NUL\x00 inside."),
        SimpleUploadedFile("again.txt", b"Text number 0 about toll gates."),
    ]
    response = browser.post("/dashboard/upload", {"files": files}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["X-Upload-Stored"] == "yes"
    html = response.content.decode()
    job = EmbeddingJob.objects.get()
    assert f"Job <a href=\"/jobs/{job.pk}/\">{job.pk}</a>" in html and "4 new documents" in html
    rows = re.findall(r'<tr class="file [^"]*" data-outcome="([^"]+)"><td>([^<]+)</td>', html)
    assert {name: outcome for outcome, name in rows} == {
        "doc0.txt": "stored",
        "doc1.txt": "stored",
        "doc2.txt": "stored",
        "binary.bin": "refused",
        "empty.txt": "skipped",
        "nul.txt": "stored",
        "again.txt": "already stored",
    }
    assert "not UTF-8 text" in html and "removed 1 NUL byte(s)" in html and "<td>empty</td>" in html
    assert "4 stored · 1 refused · 1 skipped · 1 already stored" in html
    assert sorted(Document.objects.values_list("source", flat=True)) == ["doc0.txt", "doc1.txt", "doc2.txt", "nul.txt"]

    binary = SimpleUploadedFile("b.bin", bytes(range(256)))
    nothing = browser.post("/dashboard/upload", {"files": [binary]}, HTTP_HX_REQUEST="true")
    assert nothing["X-Upload-Stored"] == "no" and "Nothing was stored: no file held text" in nothing.content.decode()
    assert "selection is kept" in nothing.content.decode()


def test_limits_and_failures_fragments(browser, user, provider):
    provider.OPENAI_API_KEY = "dashboard-limits-key"
    limits = browser.get("/dashboard/limits").content.decode()
    assert 'id="gauge-requests"' in limits and 'id="gauge-tokens"' in limits and "open (no cooldown)" in limits

    chunk = document_ingest(texts=[TextInput("Rejected text.", source="bad.txt")], owner=user).documents[0].chunks.get()
    job = EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, owner=user)
    FailedChunk.objects.create(job=job, chunk=chunk, reason="400: input is invalid")
    failures = browser.get("/dashboard/failures").content.decode()
    assert "bad.txt#0" in failures and "400: input is invalid" in failures


def test_job_buttons_pause_and_resume(browser, user):
    job = EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, status="running", owner=user)
    fragment = browser.post(f"/dashboard/jobs/{job.pk}/pause", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-status="paused"' in fragment
    assert browser.post(f"/dashboard/jobs/{job.pk}/explode").status_code == 404


def test_an_api_user_gets_a_dashboard_password_without_a_terminal(monkeypatch, django_user_model):
    call_command("api_token", "scripted", stdout=io.StringIO(), stderr=io.StringIO())  # an API-only user
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))  # piped: no terminal
    out = io.StringIO()
    call_command("dashboard_password", "scripted", "--staff", stdout=out)
    assert "updated staff user 'scripted'" in out.getvalue()
    assert Client().login(username="scripted", password="a long passphrase")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="no password given"):
        call_command("dashboard_password", "scripted")
    assert django_user_model.objects.get(username="scripted").check_password("a long passphrase")
