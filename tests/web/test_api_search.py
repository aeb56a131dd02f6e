"""GET /api/search on real workers and the simulator: best first, with similarity; bad parameters are 400s."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.pipeline import watch_job

SENTENCES = [
    "Toll gates pace the traffic so that the road never jams.",
    "A sliding window counts every request of the last minute.",
    "Workers on many hosts share one budget of tokens per minute.",
]


def test_search_finds_the_exact_text_first(rig, django_user_model):
    rig.start(rpm=600, tpm=60_000, window=1.0, workers=1, concurrency=2)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=django_user_model.objects.create(username='s')).key}")
    response = api.post("/api/documents", [{"text": text, "source": f"s{i}"} for i, text in enumerate(SENTENCES)],
                        format="json")  # fmt: skip
    assert response.status_code == 202
    job = watch_job(response.json()["job"], progress=False)
    assert job.status == "completed" and job.embedded_chunks == 3

    hits = api.get("/api/search", {"q": SENTENCES[1], "k": 3, "threshold": -1}).json()
    assert [hit["source"] for hit in hits][0] == "s1"
    assert hits[0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    similarities = [hit["similarity"] for hit in hits]
    assert similarities == sorted(similarities, reverse=True) and len(hits) == 3

    assert len(api.get("/api/search", {"q": SENTENCES[1], "k": 1}).json()) == 1
    assert api.get("/api/search", {"q": SENTENCES[1], "collection": "elsewhere"}).json() == []
    assert [h["source"] for h in api.get("/api/search", {"q": SENTENCES[2], "threshold": 0.99}).json()] == ["s2"]
    # no threshold: TOLLGATE_MIN_SIMILARITY's, which leaves out s0 (it shares no word with s1; s2 shares "minute")
    assert [h["source"] for h in api.get("/api/search", {"q": SENTENCES[1]}).json()] == ["s1", "s2"]
    assert api.get("/api/search", {"q": "banana smoothie with yoghurt"}).json() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "q"), ({"q": "x", "k": 0}, "k"), ({"q": "x", "k": "many"}, "k"), ({"q": "x", "threshold": 2}, "threshold")],
)
def test_bad_search_parameters_are_a_400_naming_the_field(api, params, field):
    response = api.get("/api/search", params)
    assert response.status_code == 400 and response.json()["field"] == field


@pytest.mark.django_db
def test_search_without_a_provider_is_a_503(api, settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    assert api.get("/api/search", {"q": "anything"}).status_code == 503
