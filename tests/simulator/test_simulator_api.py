"""The endpoint through the real openai SDK: success shapes, every validation error, auth."""

from __future__ import annotations

import math

import httpx2
import openai
import pytest
import tiktoken

from project.launch import start_simulator

KEY = "sk-test-simulator-key"
SMALL = "text-embedding-3-small"


@pytest.fixture(scope="module")
def sim():
    with start_simulator("--tier", "5", "--api-key", KEY, "--api-key", "sk-second") as process:
        yield process


@pytest.fixture
def client(sim):
    with openai.OpenAI(base_url=sim.base_url, api_key=KEY, max_retries=0) as client:
        yield client


def norm(vector):
    return math.sqrt(math.fsum(x * x for x in vector))


def dot(a, b):
    return math.fsum(x * y for x, y in zip(a, b))


def test_base64_by_default_and_float_give_the_same_unit_vectors(client):
    default = client.embeddings.create(model=SMALL, input="hello world")  # the SDK asks for base64
    floats = client.embeddings.create(model=SMALL, input="hello world", encoding_format="float")
    assert len(default.data[0].embedding) == 1536
    assert default.data[0].embedding == floats.data[0].embedding
    assert norm(default.data[0].embedding) == pytest.approx(1.0, abs=1e-5)
    assert default.model == SMALL and default.object == "list"
    assert default.usage.prompt_tokens == default.usage.total_tokens == 2


def test_many_inputs_come_back_ordered_with_exact_usage(client):
    texts = [f"document number {i} about {'whales ' * (i % 7)}" for i in range(300)]
    response = client.embeddings.create(model=SMALL, input=texts, user="user-1")
    assert [item.index for item in response.data] == list(range(300))
    encoding = tiktoken.encoding_for_model(SMALL)
    assert response.usage.prompt_tokens == sum(len(encoding.encode_ordinary(t)) for t in texts)
    single = client.embeddings.create(model=SMALL, input=texts[123]).data[0].embedding
    assert response.data[123].embedding == single
    # a search with a stored text's exact words finds it first, though its neighbours share most words
    ranked = sorted(range(300), key=lambda i: -dot(single, response.data[i].embedding))
    assert ranked[0] == 123
    assert dot(single, response.data[ranked[1]].embedding) < 0.999


def test_token_id_inputs_embed_like_their_text(client):
    encoding = tiktoken.encoding_for_model(SMALL)
    ids = encoding.encode_ordinary("token ids are inputs too")
    by_text = client.embeddings.create(model=SMALL, input="token ids are inputs too").data[0].embedding
    one = client.embeddings.create(model=SMALL, input=ids)
    many = client.embeddings.create(model=SMALL, input=[ids, encoding.encode_ordinary("another")])
    assert one.data[0].embedding == by_text == many.data[0].embedding
    assert one.usage.total_tokens == len(ids)
    assert len(many.data) == 2


def test_dimensions_and_the_large_model(client):
    short = client.embeddings.create(model=SMALL, input="shorter", dimensions=256)
    assert len(short.data[0].embedding) == 256
    assert norm(short.data[0].embedding) == pytest.approx(1.0, abs=1e-5)
    large = client.embeddings.create(model="text-embedding-3-large", input="bigger")
    assert len(large.data[0].embedding) == 3072
    ada = client.embeddings.create(model="text-embedding-ada-002", input="classic", encoding_format="float")
    assert len(ada.data[0].embedding) == 1536


def test_rate_limit_headers_on_a_success(client):
    raw = client.embeddings.with_raw_response.create(model=SMALL, input="headers")
    assert raw.headers["x-ratelimit-limit-requests"] == "10000"
    assert raw.headers["x-ratelimit-limit-tokens"] == "10000000"
    assert int(raw.headers["x-ratelimit-remaining-requests"]) < 10000
    assert raw.headers["x-ratelimit-reset-tokens"].endswith("s")
    assert raw.headers["x-request-id"].startswith("req_")
    assert int(raw.headers["openai-processing-ms"]) >= 0
    assert len(raw.parse().data) == 1


def message(error: openai.APIStatusError) -> str:
    """The server's own message (the SDK prefixes ``.message`` with "Error code: ...")."""
    assert isinstance(error.body, dict)
    return error.body["message"]


def bad_request(client, **kwargs):
    kwargs.setdefault("model", SMALL)
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(**kwargs)
    assert caught.value.status_code == 400
    return caught.value


def test_an_input_over_the_context_length(client):
    text = "hello " * 9000
    tokens = len(tiktoken.encoding_for_model(SMALL).encode_ordinary(text))
    error = bad_request(client, input=text)
    assert error.type == "invalid_request_error"
    assert f"maximum context length is 8192 tokens, however you requested {tokens} tokens" in message(error)
    assert f"({tokens} in your prompt; 0 for the completion)" in message(error)


def test_ada_allows_one_token_less(client):
    ids = [9906] * 8192
    assert client.embeddings.create(model=SMALL, input=ids).usage.total_tokens == 8192
    error = bad_request(client, model="text-embedding-ada-002", input=ids)
    assert "maximum context length is 8191 tokens" in message(error)


def test_too_many_inputs_and_empty_strings(client):
    for payload in (["a"] * 2049, "", ["fine", ""], [], [[]]):
        error = bad_request(client, input=payload)
        assert message(error).startswith("'$.input' is invalid.")
        assert error.type == "invalid_request_error"


def test_more_than_300k_tokens_in_one_request(client):
    error = bad_request(client, input=[[9906] * 8000] * 40)
    assert error.code == "max_tokens_per_request" and error.type == "max_tokens_per_request"
    assert message(error) == "Requested 320000 tokens, max 300000 tokens per request"


def test_dimensions_on_ada(client):
    error = bad_request(client, model="text-embedding-ada-002", input="x", dimensions=256)
    assert message(error) == "This model does not support specifying dimensions."
    bad_request(client, input="x", dimensions=5000)


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="text-embedding-4-huge", input="x")
    assert caught.value.code == "model_not_found"
    assert "`text-embedding-4-huge` does not exist" in message(caught.value)


def test_unknown_and_missing_keys_are_401(sim):
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-wrong-key-1234", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            wrong.embeddings.create(model=SMALL, input="x")
    assert caught.value.code == "invalid_api_key"
    assert "Incorrect API key provided: sk-*****1234" in message(caught.value)
    with httpx2.Client() as http:
        response = http.post(sim.base_url + "/embeddings", json={"model": SMALL, "input": "x"})
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"].startswith("You didn't provide an API key.")
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-second", max_retries=0) as second:
        assert second.embeddings.create(model=SMALL, input="x").data


def test_malformed_json_is_400(sim):
    with httpx2.Client() as http:
        response = http.post(
            sim.base_url + "/embeddings", content=b"{nope", headers={"authorization": f"Bearer {KEY}"}
        )
    assert response.status_code == 400
    assert "could not parse the JSON body" in response.json()["error"]["message"]


def test_stats_count_what_happened(sim, client):
    sim.reset_stats()
    client.embeddings.create(model=SMALL, input=["one", "two"])
    bad_request(client, input="")
    stats = sim.stats()
    assert stats["requests"] == 2 and stats["successes"] == 1
    assert stats["errors"] == {"400": 1}
    assert stats["requests_admitted"] == 2  # failed requests count toward RPM
    assert stats["usage_tokens"] == 2 and stats["tokens_admitted"] == 2
    assert stats["limits"] == {"rpm": 10000, "tpm": 10000000, "rpd": None}
    assert stats["overhead_ms"]["samples"] == 1
