"""Every document, job, failure and search hit belongs to an owner: others get a 404, staff see all."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.embeddings.ingest.documents import TextInput, document_ingest
from project.embeddings.models import Document, EmbeddingJob, FailedChunk
from project.pipeline import watch_job

Status = EmbeddingJob.Status


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def browser_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="another long password")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="root", password="x", is_staff=True, is_superuser=True)


def job_with_a_failure(owner, text: str) -> EmbeddingJob:
    document = document_ingest(texts=[TextInput(text, source=f"{owner.username}.txt")], owner=owner).documents[0]
    job = EmbeddingJob.objects.create(model="text-embedding-3-small", dimensions=1536, owner=owner, status=Status.RUNNING)
    job.documents.set([document])
    FailedChunk.objects.create(job=job, chunk=document.chunks.get(), reason=f"400: {owner.username}'s secret reason")
    return job


@pytest.mark.django_db
def test_another_owners_job_is_a_404_on_every_api_endpoint(api, user, bob):
    mine, theirs = job_with_a_failure(user, "Ada's own text."), job_with_a_failure(bob, "Bob's private text.")
    for url in (f"/api/jobs/{theirs.pk}", f"/api/jobs/{theirs.pk}/failures"):
        assert api.get(url).status_code == 404, url
    for action in ("pause", "resume", "cancel"):
        assert api.post(f"/api/jobs/{theirs.pk}/{action}").status_code == 404, action
    theirs.refresh_from_db()
    assert theirs.status == Status.RUNNING  # nothing was steered
    assert [job["id"] for job in api.get("/api/jobs").json()["results"]] == [mine.pk]
    assert api.get(f"/api/jobs/{mine.pk}/failures").json()["results"][0]["reason"] == "400: ada's secret reason"
    assert api.post(f"/api/jobs/{mine.pk}/pause").status_code == 200


@pytest.mark.django_db
def test_another_owners_job_is_a_404_on_every_dashboard_action(user, bob):
    mine, theirs = job_with_a_failure(user, "Ada's own text."), job_with_a_failure(bob, "Bob's private text.")
    browser = browser_for(user)
    jobs = browser.get("/dashboard/jobs").content.decode()
    assert f'id="job-{mine.pk}"' in jobs and f'id="job-{theirs.pk}"' not in jobs
    failures = browser.get("/dashboard/failures").content.decode()
    assert "ada&#x27;s secret reason" in failures and "bob" not in failures.lower()
    for action in ("pause", "resume", "cancel", "explode"):
        assert browser.post(f"/dashboard/jobs/{theirs.pk}/{action}").status_code == 404, action
    theirs.refresh_from_db()
    assert theirs.status == Status.RUNNING


@pytest.mark.django_db
def test_staff_see_and_steer_every_owners_jobs(staff, user, bob):
    jobs = {job_with_a_failure(user, "Ada's own text.").pk, job_with_a_failure(bob, "Bob's private text.").pk}
    api = api_for(staff)
    assert {job["id"] for job in api.get("/api/jobs").json()["results"]} == jobs
    for pk in jobs:
        assert api.get(f"/api/jobs/{pk}/failures").json()["count"] == 1
    bobs = EmbeddingJob.objects.get(owner=bob).pk
    assert api.post(f"/api/jobs/{bobs}/pause").json()["status"] == "paused"
    browser = browser_for(staff)
    html = browser.get("/dashboard/jobs").content.decode()
    assert all(f'id="job-{pk}"' in html for pk in jobs)
    assert browser.post(f"/dashboard/jobs/{bobs}/resume").status_code == 302
    changelist = browser.get("/admin/embeddings/embeddingjob/").content.decode()
    assert "bob" in changelist and "ada" in changelist
    assert browser_for(user).get("/admin/embeddings/embeddingjob/").status_code == 302  # not staff: to the login


@pytest.mark.django_db
def test_deduplication_never_reveals_another_owners_content(api, bob):
    text = [{"text": "The same sentence, uploaded by two people who never met."}]
    assert api_for(bob).post("/api/documents", text, format="json").json()["created"] == 1
    first = api.post("/api/documents", text, format="json").json()
    assert (first["created"], first["duplicates"]) == (1, 0)  # as if nobody else had it
    again = api.post("/api/documents", text, format="json").json()
    assert (again["created"], again["duplicates"]) == (0, 1)  # only the owner's own copy is a duplicate
    assert Document.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_identical_uploads_at_once_store_the_text_once(user):
    text = [{"text": "Posted twice at the very same moment by an impatient script."}]
    barrier, responses = threading.Barrier(2), []

    def post() -> None:
        try:
            client = api_for(user)
            barrier.wait()
            responses.append(client.post("/api/documents", text, format="json"))
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(response.status_code for response in responses) == [202, 202], [r.content for r in responses]
    assert sorted(response.json()["created"] for response in responses) == [0, 1]
    assert Document.objects.count() == 1


def test_search_finds_only_what_the_viewer_may_see(rig, django_user_model):
    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, concurrency=2)
    ada, bob = (django_user_model.objects.create_user(username=name) for name in ("ada", "bob"))
    staff = django_user_model.objects.create_user(username="root", is_staff=True)
    texts = {ada: "Ada writes about toll gates and the traffic they pace.", bob: "Bob keeps his salary figures here."}
    for owner, text in texts.items():
        response = api_for(owner).post("/api/documents", [{"text": text, "source": owner.username}], format="json")
        assert watch_job(response.json()["job"], progress=False).status == "completed"

    hits = api_for(ada).get("/api/search", {"q": texts[bob], "k": 5, "threshold": -1}).json()
    assert [hit["source"] for hit in hits] == ["ada"]  # Bob's exact text is not found by Ada
    hits = api_for(bob).get("/api/search", {"q": texts[ada], "k": 5, "threshold": -1}).json()  # nor Ada's by Bob
    assert [hit["source"] for hit in hits] == ["bob"]
    everything = {"q": texts[bob], "threshold": -1}
    assert {hit["source"] for hit in api_for(staff).get("/api/search", everything).json()} == {"ada", "bob"}
    page = browser_for(ada).get("/dashboard/search", {"q": texts[bob]}).content.decode()
    assert "salary" not in page and "No good match" in page  # Ada's own text shares no word with Bob's
