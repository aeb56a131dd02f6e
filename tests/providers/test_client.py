"""Sorting provider failures into decisions: real openai exceptions built from real HTTP responses."""

import httpx2 as httpx
import openai
import pytest

from providers.client import EmbedResult, classify, retry_after
from providers.errors import AccountBlocked, InvalidInput, RateLimited, RequestTooLarge, Transient

URL = "http://127.0.0.1:9/v1/embeddings"


def status_error(status: int, message: str, *, type_: str = "", code: str = "", headers=None) -> openai.APIStatusError:
    body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    response = httpx.Response(status, headers=headers or {}, json=body, request=httpx.Request("POST", URL))
    client = openai.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1")
    try:
        return client._make_status_error_from_response(response)
    finally:
        client.close()


@pytest.mark.parametrize(
    ("headers", "message", "expected"),
    [
        ({"retry-after-ms": "1500"}, "", 1.5),
        ({"retry-after": "3"}, "", 3.0),
        ({"retry-after": "1", "retry-after-ms": "20"}, "", 0.02),  # the same wait, rounded up to seconds
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT", "retry-after-ms": "250"}, "", 0.25),
        ({"retry-after": "2", "retry-after-ms": "soon"}, "", 2.0),
        ({}, "Rate limit reached ... Please try again in 2.812s. Visit", 2.812),
        ({}, "Please try again in 20ms.", 0.02),
        ({}, "Please try again in 1m30s.", 90.0),
        ({}, "Requests ... Please retry after 86400 seconds.", 86400.0),
        ({"x-ratelimit-reset-tokens": "6m0s"}, "no hint", 360.0),
        ({}, "no hint at all", 1.0),
    ],
)
def test_retry_after_reads_headers_then_message_then_resets(headers, message, expected):
    assert retry_after(headers, message) == pytest.approx(expected)


def test_each_status_becomes_its_decision():
    assert isinstance(classify(status_error(400, "'$.input' is invalid.")), InvalidInput)
    assert isinstance(classify(status_error(401, "Incorrect API key")), AccountBlocked)
    assert isinstance(classify(status_error(403, "Forbidden")), AccountBlocked)
    assert isinstance(classify(status_error(404, "The model does not exist", code="model_not_found")), AccountBlocked)
    assert isinstance(classify(status_error(503, "overloaded")), Transient)
    quota = status_error(429, "You exceeded your current quota", type_="insufficient_quota", code="insufficient_quota")
    assert isinstance(classify(quota), AccountBlocked)
    too_large = status_error(429, "Request too large for text-embedding-3-small ... Limit 1000000, Requested 1003160.")
    assert isinstance(classify(too_large), RequestTooLarge)
    limited = classify(status_error(429, "Please try again in 2s.", type_="tokens", headers={"retry-after": "2"}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 2.0


def test_messages_never_carry_the_key():
    error = classify(status_error(401, "Incorrect API key provided: sk-proj-****abcd. Find yours"), secret="s3cret")
    assert "sk-proj" not in str(error) and "abcd" not in str(error)
    echoed = classify(status_error(400, "bad input from key s3cret"), secret="s3cret")
    assert "s3cret" not in str(echoed)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"openai-processing-ms": "250"}, 0.25), ({}, 0.0), ({"openai-processing-ms": "soon"}, 0.0),
     ({"openai-processing-ms": "inf"}, 0.0), ({"openai-processing-ms": "-5"}, 0.0)],
)
def test_served_is_the_servers_own_time_or_nothing(headers, expected):
    assert EmbedResult([], 0, headers).served == expected
