"""``/v1/chat/completions``, free of HTTP: read a request as the API does, and answer from the prompt itself.

The answer is built from the prompt's own numbered context: the sentences of its sources
(``[1] name`` followed by text) that share the most words with the question, each cited with
its ``[n]``; deterministic, so an offline demo's answer means something and a test can predict
it. The rate limit counts the prompt plus ``max_tokens``, as OpenAI does when it admits a chat
request; ``usage`` reports what the answer really took.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simulator.config import CHAT_MODELS, ChatModelSpec
from simulator.errors import InvalidRequestError
from simulator.inputs import encoding_for, named_model
from simulator.words import word_ids

__all__ = ["ChatRequest", "ChatAnswer", "answer", "chunks", "completion", "parse_chat", "TOKENS_PER_MESSAGE"]

TOKENS_PER_MESSAGE = 3  # what each message costs besides its role and content (and the reply's priming)
ROLES = ("system", "user", "assistant", "developer", "tool")
SENTENCES_CITED = 3
LONGEST_SENTENCE = 240  # characters: longer runs (code, tables) are not quoted as an answer
NO_ANSWER = "The sources given do not answer this question."
REFUSAL = "I'm sorry, but I can't help with that."
_SOURCE = re.compile(r"^\[(\d+)\][^\n]*\n(.*?)(?=^\[\d+\]|^Question:|\Z)", re.MULTILINE | re.DOTALL)
_QUESTION = re.compile(r"^Question:\s*(.*)\Z", re.MULTILINE | re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


@dataclass(frozen=True)
class ChatRequest:
    model: ChatModelSpec
    messages: list[dict[str, str]]
    prompt_tokens: int
    max_tokens: int
    stream: bool
    include_usage: bool


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    completion_tokens: int
    finish_reason: str  # stop, length or content_filter
    refusal: str | None = None


def chat_model_of(body: Any) -> ChatModelSpec:
    """The served chat model the body names: 400 when absent, 404 when unknown."""
    return named_model(body, CHAT_MODELS)


def parse_chat(body: Any, *, context_tokens: int = 0) -> ChatRequest:
    """Validate like the real endpoint: messages, ``max_tokens`` within the model's, the context's length."""
    spec = chat_model_of(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError.invalid_field("messages")
    for message in messages:
        if not (isinstance(message, dict) and message.get("role") in ROLES and isinstance(message.get("content"), str)):
            raise InvalidRequestError.invalid_field("messages")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = spec.max_output_tokens
    if type(max_tokens) is not int or max_tokens < 1:
        raise InvalidRequestError(f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got {max_tokens} instead.", param="max_tokens")  # fmt: skip
    if max_tokens > spec.max_output_tokens:
        raise InvalidRequestError(
            f"max_tokens is too large: {max_tokens}. This model supports at most {spec.max_output_tokens} "
            f"completion tokens, whereas you provided {max_tokens}.",
            param="max_tokens",
        )
    encoding = encoding_for(spec.name)
    texts = [text for message in messages for text in (message["role"], message["content"])]
    prompt = sum(len(ids) for ids in encoding.encode_ordinary_batch(texts)) + TOKENS_PER_MESSAGE * (len(messages) + 1)
    context = context_tokens or spec.context_tokens
    if prompt + max_tokens > context:
        error = InvalidRequestError(
            f"This model's maximum context length is {context} tokens. However, you requested "
            f"{prompt + max_tokens} tokens ({prompt} in the messages, {max_tokens} in the completion). "
            "Please reduce the length of the messages or completion.",
            param="messages",
        )
        error.code = "context_length_exceeded"
        raise error
    options = body.get("stream_options") or {}
    return ChatRequest(spec, messages, prompt, max_tokens, bool(body.get("stream")), bool(options.get("include_usage")))


def _content_words(text: str) -> set[bytes]:
    packed = word_ids(text.encode())
    ids = (packed[i : i + 8] for i in range(0, len(packed), 8))
    return {ident for ident in ids if not ident[0] & 1}  # the lowest bit marks a stopword


def compose(messages: list[dict[str, str]]) -> str:
    """The answer: the question's best-matching sentences of the numbered sources, each with its ``[n]``."""
    prompt = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    found = _QUESTION.search(prompt)
    question = _content_words(found.group(1) if found else prompt)
    scored = []
    for source in _SOURCE.finditer(prompt):
        number = source.group(1)
        for order, sentence in enumerate(_SENTENCE_END.split(source.group(2))):
            sentence = " ".join(sentence.split())
            shared = len(question & _content_words(sentence))
            if shared and 3 < len(sentence) <= LONGEST_SENTENCE:
                scored.append((-shared, int(number), order, sentence, number))
    best = sorted(scored)[:SENTENCES_CITED]
    if not best:
        return NO_ANSWER
    return " ".join(f"{sentence.rstrip()} [{number}]" for *_, sentence, number in best)


def answer(request: ChatRequest, *, refusal: bool = False, content_filter: bool = False) -> ChatAnswer:
    """What the model says, cut at ``max_tokens`` (``finish_reason`` ``length``)."""
    if refusal:
        return ChatAnswer("", 0, "stop", REFUSAL)
    encoding = encoding_for(request.model.name)
    tokens = encoding.encode_ordinary(compose(request.messages))
    if content_filter:
        cut = tokens[: min(len(tokens), 5, request.max_tokens)]
        return ChatAnswer(encoding.decode(cut), len(cut), "content_filter")
    if len(tokens) > request.max_tokens:
        cut = tokens[: request.max_tokens]
        return ChatAnswer(encoding.decode(cut), len(cut), "length")
    return ChatAnswer(encoding.decode(tokens), len(tokens), "stop")


def _usage(request: ChatRequest, reply: ChatAnswer) -> dict[str, int]:
    total = request.prompt_tokens + reply.completion_tokens
    return {"prompt_tokens": request.prompt_tokens, "completion_tokens": reply.completion_tokens, "total_tokens": total}


def completion(request: ChatRequest, reply: ChatAnswer, *, ident: str) -> dict[str, Any]:
    """The body of a plain (not streamed) answer."""
    message = {"role": "assistant", "content": None if reply.refusal else reply.text, "refusal": reply.refusal}
    return {
        "id": ident, "object": "chat.completion", "created": int(time.time()), "model": request.model.name,
        "system_fingerprint": "fp_simulator",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}],
        "usage": _usage(request, reply),
    }  # fmt: skip


def pieces(text: str) -> list[str]:
    """The answer as streamed: a word (with the space before it) at a time."""
    return re.findall(r"\s*\S+", text)


def chunks(request: ChatRequest, reply: ChatAnswer, *, ident: str) -> Iterator[dict[str, Any]]:
    """The stream's chunks: the role, each piece, the end with its reason, and the usage when asked for."""
    created = int(time.time())
    extra = {"usage": None} if request.include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": request.model.name,
                "system_fingerprint": "fp_simulator", "choices": [choice], **extra}  # fmt: skip

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    if reply.refusal:
        yield chunk({"refusal": reply.refusal})
    for piece in pieces(reply.text):
        yield chunk({"content": piece})
    yield chunk({}, reply.finish_reason)
    if request.include_usage:
        yield {"id": ident, "object": "chat.completion.chunk", "created": created, "model": request.model.name,
               "system_fingerprint": "fp_simulator", "choices": [], "usage": _usage(request, reply)}  # fmt: skip
