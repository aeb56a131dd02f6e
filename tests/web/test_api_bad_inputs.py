"""Inputs that used to end in a 500: each is a 400 naming the field, or the status that fits."""

from __future__ import annotations

import pytest

from project.embeddings.models import Document
from project.provider import _limiter

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('[{"text": "x", "metadata": {"note": "a\\u0000b"}}]', "[0].metadata"),
        ('[{"text": "x", "metadata": {"\\u0000": 1}}]', "[0].metadata"),
        ('[{"text": "x", "metadata": {"list": ["fine", "\\ud800"]}}]', "[0].metadata"),
        ('[{"text": "lone \\udc00 surrogate"}]', "[0].text"),
        ('[{"text": "x", "source": "\\ud83d"}]', "[0].source"),
        ('[{"text": "x", "collection": "c\\udfff"}]', "[0].collection"),
    ],
)
def test_characters_postgresql_cannot_store_are_a_400(api, body, field):
    response = api.post("/api/documents", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 950, 100_000], ids=["deep", "near Python's limit", "past it"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('[{"text": "x"}, {"text": "y", "metadata": {"a": %s}}]', "[1].metadata"),
        ('{"lane": "sync", "documents": [{"text": "y", "metadata": {"a": %s}}]}', "documents[0].metadata"),
    ],
    ids=["list", "object"],
)
def test_deeply_nested_metadata_is_a_400_naming_the_field_and_stores_nothing(api, body, field, depth):
    response = api.post("/api/documents", body % _nested(depth), content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["field"] == field and "nested too deeply" in response.json()["detail"].lower()
    assert not Document.objects.exists()


def test_metadata_nested_a_few_levels_is_stored(api, django_capture_on_commit_callbacks):
    metadata = {"a": [{"b": {"c": [[1, 2], {"d": "e"}]}}]}
    with django_capture_on_commit_callbacks():  # no broker here: the job's task is not sent
        response = api.post("/api/documents", [{"text": "x", "metadata": metadata}], format="json")
    assert response.status_code == 202, response.content
    assert Document.objects.get().metadata == metadata


def test_limits_answer_only_for_the_configured_model(api, provider):
    provider.OPENAI_API_KEY = "bad-inputs-limits-key"
    assert api.get("/api/limits", {"model": provider.TOLLGATE_MODEL}).status_code == 200
    cached = _limiter.cache_info().currsize
    for name in ("text-embedding-3-large", "no-such-model", "x" * 500):
        response = api.get("/api/limits", {"model": name})
        assert response.status_code == 400 and response.json()["field"] == "model", name
    assert _limiter.cache_info().currsize == cached  # no limiter, no Redis pool, per name asked


def test_a_query_the_limit_can_never_admit_is_a_400(api, provider):
    provider.OPENAI_API_KEY, provider.TOLLGATE_TPM = "bad-inputs-neverfits-key", 5
    response = api.get("/api/search", {"q": "word " * 50})
    assert response.status_code == 400 and response.json()["field"] == "q"


def test_search_with_the_limiter_unreachable_is_a_503(api, provider):
    provider.OPENAI_API_KEY, provider.REDIS_URL = "bad-inputs-unavailable-key", "redis://127.0.0.1:9/0"
    response = api.get("/api/search", {"q": "hello"})
    assert response.status_code == 503 and "unavailable" in response.json()["detail"]
