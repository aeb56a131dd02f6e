"""Fitting the nearest chunks into the chat model's context: near-duplicates out, within the budget, numbered."""

from __future__ import annotations

from project.ask.context import context_fit, drop_last, near_duplicates
from project.embeddings.models import Chunk, Document
from project.embeddings.search.chunks import SearchHit
from providers import chat_prompt_tokens, encoding_for_model

MODEL = "gpt-4o-mini"


def hit(pk: int, text: str, similarity: float, source: str = "", content_hash: str = "") -> SearchHit:
    document = Document(pk=100 + pk, owner_id=1, source=source or f"doc{pk}.txt", collection="default")
    chunk = Chunk(pk=pk, document=document, seq=0, text=text, content_hash=content_hash or f"h{pk}")
    return SearchHit(chunk, similarity)


GATE = "The toll gate admits every request against one limit shared by all the workers of the pool."
HITS = [
    hit(1, GATE, 0.9),
    hit(2, GATE, 0.89, source="copy.txt", content_hash="h1"),  # the same input stored twice
    hit(3, GATE.replace("pool.", "pool today."), 0.88),  # most of its words again
    hit(4, "A cooldown after a 429 makes every worker wait before it sends again.", 0.7),
    hit(5, "Vectors are written with binary COPY into pgvector exactly once. " * 30, 0.6),  # long
    hit(6, "Searches embed their query through the same shared limit.", 0.5),
]


def test_near_duplicates_keep_the_best_ranked_copy():
    kept, dropped = near_duplicates(HITS)
    assert [h.chunk.pk for h in kept] == [1, 4, 5, 6]
    assert [u.chunk for u in dropped] == [2, 3] and all("near-duplicate of doc1.txt" in u.reason for u in dropped)


def test_sources_fit_the_budget_best_first_numbered_and_what_did_not_fit_is_said():
    encoding = encoding_for_model(MODEL)
    long_block = len(encoding.encode_ordinary(f"[3] doc5.txt\n{HITS[4].chunk.text.strip()}"))
    fitted = context_fit(HITS, question="what does the gate admit?", model=MODEL, max_tokens=300, budget=long_block - 1, k=6)
    assert [(s.n, s.chunk) for s in fitted.sources] == [(1, 1), (2, 4), (3, 6)]  # 5 is too long; 6 still fits after it
    reasons = {u.chunk: u.reason for u in fitted.unused}
    assert reasons[5] == "did not fit in the chat model's context" and set(reasons) == {2, 3, 5}
    user = fitted.messages[1]["content"]
    assert user.startswith("Sources:\n\n[1] doc1.txt\nThe toll gate") and "\n\n[3] doc6.txt\nSearches" in user
    assert user.endswith("Question: what does the gate admit?")
    assert fitted.prompt_tokens == chat_prompt_tokens(fitted.messages, MODEL)

    everything = context_fit(HITS, question="q", model=MODEL, max_tokens=300, budget=10_000, k=2)
    assert [s.chunk for s in everything.sources] == [1, 4]
    assert "beyond the 2 sources an ask gives" in {u.chunk: u.reason for u in everything.unused}[5]


def test_the_answer_s_room_comes_off_the_model_s_context():
    fitted = context_fit(HITS, question="q", model=MODEL, max_tokens=128_000 - 60, budget=10_000, k=6)
    assert fitted.sources == []  # the instructions and question fill what max_tokens leaves


def test_drop_last_gives_the_least_similar_source_back_with_the_reason():
    fitted = context_fit(HITS, question="q", model=MODEL, max_tokens=300, budget=10_000, k=6)
    fewer = drop_last(fitted, "too long for the provider")
    assert [s.chunk for s in fewer.sources] == [s.chunk for s in fitted.sources][:-1]
    assert fewer.unused[-1].chunk == fitted.sources[-1].chunk and fewer.unused[-1].reason == "too long for the provider"
