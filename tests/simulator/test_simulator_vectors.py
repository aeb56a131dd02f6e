"""Semantic vectors: paraphrases near, unrelated text far, and every API property kept.

In-process tests pin the arithmetic (backends agree bit for bit, prefixes, stemming); the
rest go through the real openai SDK against a real simulator process.
"""

from __future__ import annotations

import math

import openai
import pytest

from project.launch import start_simulator
from simulator.semantic import BACKENDS, semantic_vectors
from simulator.vectors import embed, embed_many
from simulator.words import stem

SMALL = "text-embedding-3-small"
QUESTION = "how do workers share one rate limit"
ANSWER = (
    "Every worker process shares a single rate limit kept in Redis: before a worker calls the API "
    "it asks the shared limiter, which counts requests and tokens for all workers together."
)
UNRELATED = [
    "The recipe calls for two cups of flour, a pinch of salt and butter softened overnight.",
    "Migrating birds follow the coastline south when autumn storms arrive over the mountains.",
    "The orchestra tuned its violins before the conductor raised the baton for the symphony.",
]


def dot(a, b) -> float:
    return math.fsum(x * y for x, y in zip(a, b))


def norm(vector) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def test_a_paraphrase_scores_clearly_above_unrelated_text():
    question, answer, *others = embed_many([QUESTION.encode(), ANSWER.encode(), *(t.encode() for t in UNRELATED)],
                                           model=SMALL, dimensions=1536)
    related = dot(question, answer)
    unrelated = max(dot(question, other) for other in others)
    assert related > 0.3
    assert unrelated < 0.15
    assert related > unrelated + 0.25


def test_stemming_joins_the_forms_of_a_word():
    assert stem(b"share") == stem(b"shares") == stem(b"shared") == stem(b"sharing")
    assert stem(b"limits") == stem(b"limit")
    assert stem(b"running") == stem(b"run")
    assert stem(b"queries") == stem(b"query")
    assert stem(b"class") == b"class"


def test_word_order_and_near_duplicates():
    base = embed(b"the cat sat on the mat", model=SMALL, dimensions=1536)
    punctuated = embed(b"The cat sat on the mat!", model=SMALL, dimensions=1536)
    reordered = embed(b"the mat sat on the cat", model=SMALL, dimensions=1536)
    assert 0.9 < dot(base, punctuated) < 0.9999  # the exact-text feature tells them apart
    assert 0.3 < dot(base, reordered) < dot(base, punctuated)  # same words, different pairs


@pytest.mark.parametrize("content", [b"?!... ---", b"", "\u2014\u2014".encode()])
def test_an_input_without_words_is_still_a_deterministic_unit_vector(content):
    first = embed(content, model=SMALL, dimensions=1536)
    assert first.tobytes() == embed(content, model=SMALL, dimensions=1536).tobytes()
    assert norm(first) == pytest.approx(1.0, abs=1e-5)
    assert abs(dot(first, embed(b"...", model=SMALL, dimensions=1536))) < 0.2


@pytest.mark.skipif(len(BACKENDS) < 2, reason="numpy is not installed")
def test_numpy_and_pure_python_give_identical_vectors():
    contents = [QUESTION.encode(), ANSWER.encode(), b"", b"x", (ANSWER * 40).encode(), "caf\u00e9 na\u00efve".encode()]
    for model, full in ((SMALL, 1536), ("text-embedding-3-large", 3072)):
        for dimensions in (full, 256, 1):
            shape = dict(model=model, full_dimensions=full, dimensions=dimensions)
            fast = semantic_vectors(contents, **shape, backend="numpy")
            slow = semantic_vectors(contents, **shape, backend="python")
            assert [v.tobytes() for v in fast] == [v.tobytes() for v in slow]


def test_models_are_unrelated_spaces():
    small = embed(ANSWER.encode(), model=SMALL, dimensions=1536)
    ada = embed(ANSWER.encode(), model="text-embedding-ada-002", dimensions=1536)
    assert abs(dot(small, ada)) < 0.15


@pytest.fixture(scope="module")
def sim():
    with start_simulator("--tier", "5") as process:
        yield process


@pytest.fixture
def client(sim):
    sim.configure(vectors="semantic")
    with openai.OpenAI(base_url=sim.base_url, api_key="sk-any", max_retries=0) as client:
        yield client


def vectors(client, texts, **kwargs):
    return [item.embedding for item in client.embeddings.create(model=SMALL, input=texts, **kwargs).data]


def test_over_http_the_paraphrase_wins_and_the_same_text_is_identical(client):
    question, answer, *others = vectors(client, [QUESTION, ANSWER, *UNRELATED], encoding_format="float")
    assert dot(question, answer) > max(dot(question, other) for other in others) + 0.25
    again = vectors(client, QUESTION, encoding_format="float")[0]
    assert again == question


def test_base64_and_float_agree(client):
    assert vectors(client, ANSWER) == vectors(client, ANSWER, encoding_format="float")  # the SDK asks for base64


def test_dimensions_are_the_renormalized_prefix(client):
    full = vectors(client, ANSWER, encoding_format="float")[0]
    for k in (256, 1024):
        short = vectors(client, ANSWER, dimensions=k, encoding_format="float")[0]
        scale = norm(full[:k])
        assert [round(x / scale, 5) for x in full[:k]] == [round(x, 5) for x in short]
        assert norm(short) == pytest.approx(1.0, abs=1e-5)
    question_short, answer_short = vectors(client, [QUESTION, ANSWER], dimensions=256, encoding_format="float")
    assert dot(question_short, answer_short) > 0.2  # meaning survives the cut


def test_vectors_are_the_same_in_another_process(client):
    here = vectors(client, [QUESTION, ANSWER])
    with start_simulator("--tier", "1") as other:
        with openai.OpenAI(base_url=other.base_url, api_key="sk-other", max_retries=0) as second:
            assert vectors(second, [QUESTION, ANSWER]) == here


def test_the_exact_flag_brings_back_exact_text_vectors(sim, client):
    semantic = vectors(client, [QUESTION, ANSWER], encoding_format="float")
    assert sim.configure(vectors="exact")["knobs"]["vectors"] == "exact"
    question, answer = vectors(client, [QUESTION, ANSWER], encoding_format="float")
    assert abs(dot(question, answer)) < 0.15
    assert question != semantic[0]
    assert norm(question) == pytest.approx(1.0, abs=1e-5)


def test_the_vectors_flag_on_the_command_line():
    with start_simulator("--vectors", "exact") as sim:
        assert sim.configure()["knobs"]["vectors"] == "exact"
