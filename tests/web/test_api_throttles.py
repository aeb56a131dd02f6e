"""Per-user throttles and the per-owner daily token budget: 429 with Retry-After, before any provider call."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.embeddings.models import Document, EmbeddingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob_api(django_user_model) -> APIClient:
    client = APIClient()
    bob = django_user_model.objects.create_user(username="bob")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")
    return client


def test_every_call_is_throttled_per_user(api, bob_api, settings):
    settings.TOLLGATE_API_RATE = "3/minute"
    assert [api.get("/api/jobs").status_code for _ in range(3)] == [200, 200, 200]
    refused = api.get("/api/jobs")
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert bob_api.get("/api/jobs").status_code == 200  # another user has a count of its own


def test_work_that_reaches_the_provider_has_its_own_lower_rate(api, settings):
    settings.TOLLGATE_WORK_RATE = "1/hour"
    assert api.post("/api/documents", [{"text": "One upload an hour."}], format="json").status_code == 202
    refused = api.post("/api/documents", [{"text": "A second one."}], format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 60
    assert api.get("/api/search", {"q": "anything"}).status_code == 429
    assert api.get("/api/jobs").status_code == 200
    assert Document.objects.count() == 1


def test_a_spent_daily_budget_is_a_429_until_the_day_ends(api, bob_api, user, settings, django_capture_on_commit_callbacks):
    settings.TOLLGATE_DAILY_TOKEN_BUDGET = 30
    words = "tokens " * 20  # 20 tokens
    assert api.post("/api/documents", [{"text": words}], format="json").status_code == 202
    with django_capture_on_commit_callbacks() as callbacks:
        refused = api.post("/api/documents", [{"text": "other " * 20}], format="json")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 86_400
    assert "TOLLGATE_DAILY_TOKEN_BUDGET" in refused.json()["detail"]
    assert callbacks == []  # nothing was sent to a worker, so no provider call
    assert (Document.objects.filter(owner=user).count(), EmbeddingJob.objects.filter(owner=user).count()) == (1, 1)
    assert bob_api.post("/api/documents", [{"text": "other " * 20}], format="json").status_code == 202  # per owner


def test_a_cancelled_job_gives_back_what_it_did_not_embed(api, settings):
    settings.TOLLGATE_DAILY_TOKEN_BUDGET = 30
    job = api.post("/api/documents", [{"text": "tokens " * 20}], format="json").json()["job"]
    assert api.post(f"/api/jobs/{job}/cancel").status_code == 200
    assert api.post("/api/documents", [{"text": "other " * 20}], format="json").status_code == 202


def test_more_than_a_whole_days_budget_is_a_400(api, settings):
    settings.TOLLGATE_DAILY_TOKEN_BUDGET = 10
    response = api.post("/api/documents", [{"text": "tokens " * 20}], format="json")
    assert response.status_code == 400 and response.json()["field"] == "text"
    assert Document.objects.count() == 0


def test_the_dashboard_upload_respects_the_budget(user, settings):
    settings.TOLLGATE_DAILY_TOKEN_BUDGET = 30
    browser = Client()
    browser.force_login(user)
    for name in ("a.txt", "b.txt"):
        page = browser.post("/dashboard/upload", {"files": [SimpleUploadedFile(name, f"{name[0]}word ".encode() * 10)]}, follow=True)
    assert "TOLLGATE_DAILY_TOKEN_BUDGET" in page.content.decode()
    assert Document.objects.count() == 1


def test_the_dashboard_search_and_upload_count_against_the_same_work_rate(api, user, settings, provider):
    """Each dashboard search is a paid call and each upload provider work: the API's per-user rate applies."""
    settings.TOLLGATE_WORK_RATE = "2/hour"
    browser = Client()
    browser.force_login(user)
    browser.post("/dashboard/upload", {"files": [SimpleUploadedFile("a.txt", b"One upload.")]})
    assert Document.objects.count() == 1
    assert api.get("/api/jobs").status_code == 200  # not work
    assert api.post("/api/documents", [{"text": "A second one."}], format="json").status_code == 202
    for refused in (
        browser.post("/dashboard/upload", {"files": [SimpleUploadedFile("b.txt", b"A third.")]}),
        browser.get("/dashboard/search", {"q": "anything"}, HTTP_HX_REQUEST="true"),
    ):
        assert refused.status_code == 429 and int(refused["Retry-After"]) > 60
        assert "TOLLGATE_WORK_RATE" in refused.content.decode()
    assert Document.objects.count() == 2


def test_a_dashboard_query_longer_than_the_apis_cap_is_refused_before_any_call(user, provider):
    browser = Client()
    browser.force_login(user)
    refused = browser.get("/dashboard/search", {"q": "word " * 1601}, HTTP_HX_REQUEST="true")  # 8,005 characters
    assert refused.status_code == 400
    assert "8,005 characters" in refused.content.decode() and "at most 8,000" in refused.content.decode()
