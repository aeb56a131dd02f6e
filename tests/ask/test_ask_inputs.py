"""A bad ask is one clear message naming the field, before anything is paid (the provider here is unreachable)."""

from __future__ import annotations

import pytest

from project.ask.models import Ask

LONG = "why " * 2001


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"question": ""}, "question", "the question is empty"),
        ({"question": "   "}, "question", "the question is empty"),
        ({"question": LONG}, "question", "at most 8,000 are asked"),
        ({"question": "why?", "model": "gpt-9-turbo"}, "model", "unknown chat model 'gpt-9-turbo'"),
        ({"question": "why?"}, "collection", "there are no stored chunks to answer from yet"),
        ({"question": "why?", "collection": "notes"}, "collection", "no stored chunks to answer from in collection 'notes'"),
        ({"question": "why?", "k": 0}, "k", "greater than or equal to 1"),
        ({}, "question", "required"),
    ],
    ids=["empty", "blank", "too-long", "unknown-model", "nothing-stored", "empty-collection", "k", "missing"],
)
def test_a_bad_ask_is_a_400_naming_the_field_and_costs_nothing(api, provider, body, field, words):
    response = api.post("/api/ask", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field and words in response.json()["detail"]
    assert not Ask.objects.exists()


@pytest.mark.django_db
def test_a_bad_ask_asked_for_a_stream_is_one_error_event(api, provider):
    response = api.post("/api/ask", {"question": ""}, format="json", HTTP_ACCEPT="text/event-stream")
    assert response.status_code == 400 and response["Content-Type"].startswith("text/event-stream")
    assert response.content.decode() == (
        'event: error\ndata: {"status":400,"detail":"the question is empty: ask something","field":"question"}\n\n'
    )
