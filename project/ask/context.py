"""The prompt of an ask: the nearest chunks, near-duplicates dropped, fitted and numbered for the chat model.

Tokens are counted with the chat model's own encoding (tiktoken, offline), so what is sent fits
the model's context with ``max_tokens`` left for the answer; a 400 for the context's length all
the same (a provider that counts otherwise) is met by :func:`drop_last`, one source fewer.

Example::

    fitted = context_fit(hits, question="how do I parse options?", model="gpt-4o-mini",
                         max_tokens=600, budget=6000)
    fitted.messages  # system + user, sources numbered [1]..[n]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from project.embeddings.search.chunks import SearchHit
from providers import chat_model_info, chat_prompt_tokens, encoding_for_model

__all__ = ["Fitted", "Source", "Unused", "context_fit", "drop_last", "near_duplicates", "SYSTEM_PROMPT"]

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources the user gives. Cite the sources you use "
    "with their numbers in square brackets, like [1] or [2][3], right after the sentence they support. "
    "If the sources do not contain the answer, say so. Never cite a number that is not given."
)
NEAR_DUPLICATE = 0.8  # word-trigram Jaccard at which a chunk says what a better-ranked one says
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Source:
    """A chunk given to the model as ``[n]``."""

    n: int
    document: int
    chunk: int
    seq: int
    source: str
    collection: str
    similarity: float
    text: str

    def block(self) -> str:
        return f"[{self.n}] {self.source}\n{self.text.strip()}"


@dataclass(frozen=True)
class Unused:
    """A near chunk left out of the prompt, and why."""

    document: int
    chunk: int
    source: str
    similarity: float
    reason: str


@dataclass(frozen=True)
class Fitted:
    question: str
    model: str
    sources: list[Source]
    unused: list[Unused] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, str]]:
        blocks = "\n\n".join(source.block() for source in self.sources)
        user = f"Sources:\n\n{blocks}\n\nQuestion: {self.question}"
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]

    @property
    def prompt_tokens(self) -> int:
        return chat_prompt_tokens(self.messages, self.model)


def _name(hit: SearchHit) -> str:
    return hit.chunk.document.source or f"document {hit.chunk.document_id}"


def _unused(hit: SearchHit, reason: str) -> Unused:
    return Unused(hit.chunk.document_id, hit.chunk.pk, _name(hit), round(hit.similarity, 4), reason)


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + 3]) for i in range(max(1, len(words) - 2))}


def near_duplicates(hits: Sequence[SearchHit]) -> tuple[list[SearchHit], list[Unused]]:
    """The hits best first without those that repeat a better one: the same input, or most of its words."""
    kept: list[tuple[SearchHit, set]] = []
    dropped = []
    for hit in hits:
        shingles = _shingles(hit.chunk.text)
        twin = next(
            (i for i, (other, seen) in enumerate(kept)
             if other.chunk.content_hash == hit.chunk.content_hash
             or len(shingles & seen) >= NEAR_DUPLICATE * min(len(shingles), len(seen))),
            None,
        )  # fmt: skip
        if twin is None:
            kept.append((hit, shingles))
        else:
            dropped.append(_unused(hit, f"a near-duplicate of {_name(kept[twin][0])} (chunk {kept[twin][0].chunk.pk})"))
    return [hit for hit, _ in kept], dropped


def context_fit(
    hits: Sequence[SearchHit], *, question: str, model: str, max_tokens: int, budget: int, k: int
) -> Fitted:
    """At most ``k`` distinct hits, best first, whose blocks fit ``budget`` tokens and the model's context.

    The context must hold the instructions, the question, the sources and ``max_tokens`` of
    answer; a hit that does not fit is left out (and said so) and a shorter one after it may
    still go in. The sources are numbered in the order they are given.
    """
    info = chat_model_info(model)
    encoding = encoding_for_model(model)
    distinct, unused = near_duplicates(hits)
    bare = Fitted(question, model, [])
    room = min(budget, info.context_tokens - max_tokens - bare.prompt_tokens)
    sources: list[Source] = []
    for hit in distinct:
        if len(sources) == k:
            unused.append(_unused(hit, f"beyond the {k} sources an ask gives"))
            continue
        chunk = hit.chunk
        source = Source(len(sources) + 1, chunk.document_id, chunk.pk, chunk.seq, _name(hit),
                        chunk.document.collection, round(hit.similarity, 4), chunk.text)  # fmt: skip
        cost = len(encoding.encode_ordinary(source.block())) + 2  # and the blank line between blocks
        if cost > room:
            unused.append(_unused(hit, "did not fit in the chat model's context"))
            continue
        room -= cost
        sources.append(source)
    return Fitted(question, model, sources, unused)


def drop_last(fitted: Fitted, reason: str) -> Fitted:
    """One source fewer (the least similar), after the provider said the context was too long."""
    last = fitted.sources[-1]
    unused = Unused(last.document, last.chunk, last.source, last.similarity, reason)
    return replace(fitted, sources=fitted.sources[:-1], unused=[*fitted.unused, unused])
