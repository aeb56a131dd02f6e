"""POST /api/documents: JSON or files in, 202 and a job out; bad input is a 400 naming the field."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from project.embeddings.models import Chunk, Document, EmbeddingJob

pytestmark = pytest.mark.django_db

URL = "/api/documents"


def test_anonymous_and_bad_tokens_get_401():
    client = APIClient()
    assert client.post(URL, [{"text": "hi"}], format="json").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    response = client.post(URL, [{"text": "hi"}], format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert Document.objects.count() == 0


def test_json_documents_make_a_job_enqueued_after_commit(api, django_capture_on_commit_callbacks):
    items = [
        {"text": "The first text about toll roads.", "source": "a.txt", "metadata": {"lang": "en"}},
        {"text": "The second text, in another collection.", "collection": "other"},
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(URL, items, format="json")
    assert response.status_code == 202, response.json()
    body = response.json()
    job = EmbeddingJob.objects.get(pk=body["job"])
    assert response["Location"] == body["url"] == f"/api/jobs/{job.pk}"
    assert (body["documents"], body["created"], body["chunks"], body["status"]) == (2, 2, 2, "running")
    assert job.total_chunks == 2 and job.documents.count() == 2
    assert sorted(Document.objects.values_list("collection", flat=True)) == ["default", "other"]
    assert Document.objects.get(source="a.txt").metadata == {"lang": "en"}
    assert len(callbacks) == 1  # the group's task, sent only once the transaction commits


def test_uploaded_files_are_ingested(api):
    files = [SimpleUploadedFile("one.txt", b"A file about gates."), SimpleUploadedFile("two.md", b"# Roads\n\nCars.")]
    response = api.post(URL, {"files": files, "collection": "uploads"}, format="multipart")
    assert response.status_code == 202, response.json()
    assert response.json()["created"] == 2
    assert set(Document.objects.filter(collection="uploads").values_list("source", flat=True)) == {"one.txt", "two.md"}


def test_each_uploaded_file_has_its_outcome_and_warnings_in_the_answer(api):
    assert api.post(URL, {"files": [SimpleUploadedFile("old.txt", b"Known text.")]}, format="multipart").status_code == 202
    files = [
        SimpleUploadedFile("new.txt", b"A new text."),
        SimpleUploadedFile("nul.txt", b"Text with\x00 a NUL."),
        SimpleUploadedFile("empty.txt", b""),
        SimpleUploadedFile("again.txt", b"Known text."),
    ]
    body = api.post(URL, {"files": files}, format="multipart").json()
    assert body["files"] == [
        {"name": "new.txt", "outcome": "stored", "notes": []},
        {"name": "nul.txt", "outcome": "stored", "notes": ["removed 1 NUL byte(s)"]},
        {"name": "empty.txt", "outcome": "skipped", "notes": ["empty"]},
        {"name": "again.txt", "outcome": "already stored", "notes": []},
    ]
    assert body["skipped"] == ["empty.txt: skipped (empty)"]
    assert body["warnings"] == ["nul.txt: stored (removed 1 NUL byte(s))"]
    assert (body["created"], body["duplicates"]) == (2, 1)
    assert Document.objects.get(source="nul.txt").text == "Text with a NUL."


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([{"text": "fine"}, {"source": "no text"}], "[1].text"),
        ([{"text": "fine", "metadata": [1, 2]}], "[0].metadata"),
        ([{"text": ""}], "[0].text"),
        ([{"text": "x", "collection": "c" * 201}], "[0].collection"),
    ],
)
def test_invalid_items_are_a_400_naming_the_field(api, payload, field):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert Document.objects.count() == 0 and EmbeddingJob.objects.count() == 0


def test_not_a_list_and_an_empty_list_are_400(api):
    assert api.post(URL, {"text": "one"}, format="json").status_code == 400
    assert api.post(URL, [], format="json").status_code == 400


def test_malformed_json_is_a_400_saying_where(api):
    response = api.post(URL, '[{"text": "unterminated}', content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_binary_file_is_a_400_naming_it_and_nothing_is_written(api):
    files = [SimpleUploadedFile("good.txt", b"fine text"), SimpleUploadedFile("blob.bin", bytes(range(256)) * 8)]
    response = api.post(URL, {"files": files}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "files" and "blob.bin: refused (not UTF-8 text" in body["detail"]
    assert "1 of 2 files are not text, so nothing was stored" in body["detail"]
    assert Document.objects.count() == 0


def test_no_files_is_a_400(api):
    response = api.post(URL, {"collection": "x"}, format="multipart")
    assert response.status_code == 400 and response.json()["field"] == "files"


def test_an_oversized_upload_is_a_413(api, settings):
    settings.TOLLGATE_MAX_UPLOAD_BYTES = 1000
    response = api.post(URL, json.dumps([{"text": "x" * 2000}]), content_type="application/json")
    assert response.status_code == 413
    assert "at most 1,000 bytes" in response.json()["detail"]
    response = api.post(URL, {"files": [SimpleUploadedFile("big.txt", b"y" * 2000)]}, format="multipart")
    assert response.status_code == 413
    assert Document.objects.count() == 0


def test_a_chunk_larger_than_the_limit_leaves_nothing_half_written(api, settings):
    settings.TOLLGATE_TPM = 20  # no request of a 50-token chunk can ever pass
    response = api.post(URL, [{"text": "word " * 50}, {"text": "short"}], format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "text"
    assert (Document.objects.count(), Chunk.objects.count(), EmbeddingJob.objects.count()) == (0, 0, 0)


def test_an_object_body_chooses_the_lane_and_the_job_shows_it_with_its_batches(api, django_capture_on_commit_callbacks):
    body = {"documents": [{"text": "A backfill that can wait a day."}], "lane": "batch"}
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(URL, body, format="json")
    assert response.status_code == 202, response.json()
    job = EmbeddingJob.objects.get(pk=response.json()["job"])
    assert response.json()["lane"] == job.lane == "batch"
    assert len(callbacks) == 1  # the batch driver is asked for once the groups commit; no embed task
    shown = api.get(f"/api/jobs/{job.pk}").json()
    assert shown["lane"] == "batch" and shown["batches"] == {}
    assert shown["reuse"]["batch_tokens"] == 0 and shown["reuse"]["cost_usd"] == 0.0


def test_a_multipart_upload_chooses_the_lane_too(api):
    files = [SimpleUploadedFile("one.txt", b"A file about gates.")]
    response = api.post(URL, {"files": files, "lane": "batch"}, format="multipart")
    assert response.status_code == 202, response.json()
    assert EmbeddingJob.objects.get().lane == "batch"


@pytest.mark.parametrize("body", [{"documents": [{"text": "x"}], "lane": "express"}, {"documents": [], "lane": "sync"}])
def test_a_bad_lane_or_no_documents_in_an_object_body_is_a_400(api, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] in ("lane", "documents")
    assert Document.objects.count() == 0 and EmbeddingJob.objects.count() == 0
