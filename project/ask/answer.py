"""An ask, start to end: check, embed the question, find and fit the sources, stream the answer through the gate.

Everything that can refuse an ask without cost comes first (the question, the chat model, the
daily budget, whether the owner has anything stored), so a bad ask is one message and no charge.
The chat call is interactive: no reserve and no pacing at the chat model's own shared limit
(:func:`providers.pass_within`), admitted on prompt + ``max_tokens``; the limiter learns the
answer's usage when the stream ends (:meth:`Asking.__iter__`), and the ask is recorded then.

Example::

    asking = ask_start("how do I parse command-line options?", owner=user)
    for piece in asking:
        print(piece, end="")
    result = asking.result()
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from project.ask.context import Fitted, Source, context_fit, drop_last
from project.ask.errors import EmptyQuestion, NothingStored, QuestionTooLong
from project.ask.models import Ask
from project.embeddings.budget import budget_check
from project.embeddings.models import Embedding
from project.embeddings.owners import sees_all
from project.embeddings.search.chunks import chunk_search
from project.embeddings.search.query import embed_query
from project.provider import chat_config, chat_limiter, chat_max_tokens, chat_model
from providers import (
    AnswerRefused,
    ChatStream,
    ContextTooLong,
    Passage,
    chat_model_info,
    chat_open,
    client_for,
    count_tokens,
    pass_within,
)

__all__ = ["AskResult", "Asking", "MAX_QUESTION_CHARS", "ask", "ask_start"]

MAX_QUESTION_CHARS = 8000  # as a search's query
CANDIDATES = 2  # hits read per source asked for: room for the near-duplicates dropped
_CITATION = re.compile(r"\[(\d+(?:\]\s*\[\d+)*)\]")


@dataclass
class AskResult:
    """An answer, its numbered sources (``cited`` when the answer names them), what was left out, and its cost."""

    question: str
    answer: str
    model: str
    sources: list[dict]
    not_used: list[dict]
    usage: dict[str, int]
    cost_usd: float
    finish_reason: str
    asked: bool = True  # False: no chunk was near enough, so no model was asked (and nothing billed for it)

    def as_dict(self) -> dict:
        return asdict(self)


def cited(answer: str, count: int) -> list[int]:
    """The source numbers ``answer`` cites (``[2]``, ``[1][3]``), in the order first cited, within 1..count."""
    numbers: list[int] = []
    for match in _CITATION.finditer(answer):
        for number in map(int, re.findall(r"\d+", match.group(1))):
            if 1 <= number <= count and number not in numbers:
                numbers.append(number)
    return numbers


@dataclass
class Asking:
    """An answer on its way: its sources are known, its pieces arrive by iterating, its result after."""

    fitted: Fitted
    owner: AbstractBaseUser
    embedding_tokens: int
    stream: ChatStream | None = None
    passage: Passage | None = None
    pieces: list[str] = field(default_factory=list)
    finished: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def sources(self) -> list[Source]:
        return self.fitted.sources

    def __iter__(self) -> Iterator[str]:
        if self.stream is None:
            self.finished = True
            return
        outcome = Ask.Outcome.FAILED
        try:
            for piece in self.stream:
                self.pieces.append(piece)
                yield piece
            outcome = Ask.Outcome.ANSWERED
        except AnswerRefused:
            outcome = Ask.Outcome.REFUSED
            raise
        finally:
            self.finished = True
            self.stream.close()
            if self.passage is not None:
                self.passage.settle()  # the limiter learns the answer's usage (best-effort)
            self._record(outcome)

    def _record(self, outcome: str) -> None:
        stream = self.stream
        completion = stream.total_tokens - stream.prompt_tokens
        Ask.objects.create(
            owner=self.owner, model=self.fitted.model, outcome=outcome, embedding_tokens=self.embedding_tokens,
            prompt_tokens=stream.prompt_tokens, completion_tokens=completion, sources=len(self.sources),
            cost_usd=chat_model_info(self.fitted.model).cost_usd(stream.prompt_tokens, completion),
        )  # fmt: skip

    def result(self) -> AskResult:
        """The whole answer; read it (iterate) first."""
        answer = "".join(self.pieces)
        numbers = cited(answer, len(self.sources))
        sources = [{**asdict(source), "cited": source.n in numbers} for source in self.sources]
        not_used = [asdict(unused) for unused in self.fitted.unused]
        if self.stream is None:
            usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            return AskResult(self.fitted.question, _NO_SOURCES, self.fitted.model, sources, not_used,
                             {**usage, "embedding_tokens": self.embedding_tokens}, 0.0, "", asked=False)  # fmt: skip
        prompt, total = self.stream.prompt_tokens, self.stream.total_tokens
        usage = {"prompt_tokens": prompt, "completion_tokens": total - prompt, "total_tokens": total,
                 "embedding_tokens": self.embedding_tokens}  # fmt: skip
        cost = chat_model_info(self.fitted.model).cost_usd(prompt, total - prompt)
        return AskResult(self.fitted.question, answer, self.fitted.model, sources, not_used, usage, round(cost, 8),
                         self.stream.finish_reason)  # fmt: skip


_NO_SOURCES = "No stored chunk is near enough to the question to answer it from: no model was asked."


def _question(question: str) -> str:
    if not question.strip():
        raise EmptyQuestion()
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionTooLong(len(question), MAX_QUESTION_CHARS)
    return question.strip()


def _own(owner: AbstractBaseUser) -> AbstractBaseUser:
    """A viewer that sees only ``owner``'s documents, even when the owner is staff (who sees all in search)."""
    if not sees_all(owner):
        return owner
    narrowed = copy.copy(owner)
    narrowed.is_staff = False
    return narrowed


def ask_start(
    question: str,
    *,
    owner: AbstractBaseUser,
    collection: str | None = None,
    k: int | None = None,
    threshold: float | None = None,
    model: str | None = None,
) -> Asking:
    """Check the ask, embed the question, fit the owner's nearest chunks and start the answer's stream.

    Raises before any charge: :class:`EmptyQuestion`, :class:`QuestionTooLong`,
    :class:`providers.UnknownChatModel`, :class:`NothingStored`, a spent daily budget. Then the
    provider's errors as they come (a 429 past the wait, a refusal of the prompt).
    """
    question = _question(question)
    model = chat_model(model)
    info = chat_model_info(model)  # an unknown chat model: one line, nothing sent
    k = k or settings.TOLLGATE_ASK_K
    threshold = settings.TOLLGATE_MIN_SIMILARITY if threshold is None else threshold
    embedding_model, max_tokens = settings.TOLLGATE_MODEL, chat_max_tokens()
    embedding_tokens = count_tokens([question], embedding_model)[0]
    stored = Embedding.objects.filter(model=embedding_model, chunk__document__owner=owner)
    if collection:
        stored = stored.filter(chunk__document__collection=collection)
    if not stored.exists():
        raise NothingStored(collection)
    room = min(settings.TOLLGATE_ASK_CONTEXT_TOKENS, info.context_tokens)
    budget_check(owner=owner, tokens=embedding_tokens + room + 2 * embedding_tokens + max_tokens)

    vector = embed_query(question, model=embedding_model)
    hits = chunk_search(vector=vector, model=embedding_model, viewer=_own(owner), k=CANDIDATES * k,
                        threshold=threshold, collection=collection)  # fmt: skip
    fitted = context_fit(hits, question=question, model=model, max_tokens=max_tokens,
                         budget=settings.TOLLGATE_ASK_CONTEXT_TOKENS, k=k)  # fmt: skip
    asking = Asking(fitted, owner, embedding_tokens)
    if not fitted.sources:
        return asking
    config = chat_config(model)
    client, limiter = client_for(config), chat_limiter(model)
    while True:
        prompt_tokens = fitted.prompt_tokens
        messages = fitted.messages
        try:
            asking.passage = pass_within(
                limiter=limiter, tokens=prompt_tokens + max_tokens,
                call=lambda: chat_open(client, config, messages=messages, max_tokens=max_tokens,
                                       prompt_tokens=prompt_tokens),
            )  # fmt: skip
        except ContextTooLong:
            if len(fitted.sources) <= 1:
                raise
            fitted = drop_last(fitted, "left out: the provider said the context was too long")
            asking.fitted = fitted
            continue
        asking.stream = asking.passage.result
        return asking


def ask(question: str, **options) -> AskResult:
    """:func:`ask_start` read to the end: the whole answer at once. A refusal raises, after it was recorded."""
    asking = ask_start(question, **options)
    for _ in asking:
        pass
    return asking.result()
