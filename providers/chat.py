"""One chat completion through the openai SDK, streamed: the second kind of call through the gate.

Every answer is streamed (``stream=True`` with ``stream_options.include_usage``), so a person
reads it as it is written and the caller that wants it whole just reads it to the end: one way
to call, one way to fail. The request is sent when :func:`chat_open` returns (the server has
admitted it: a 429 or a 400 raises there, before any text), and :class:`ChatStream` yields the
answer's pieces; its ``total_tokens`` is the server's ``usage`` once the last chunk came, which
the gate's bookkeeping reconciles the admission's estimate (prompt + ``max_tokens``) with.

Example::

    stream = chat_open(client, config, messages=[{"role": "user", "content": "hi"}], max_tokens=50)
    text = "".join(stream)
    stream.prompt_tokens, stream.completion_tokens
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from typing import Any

import openai

from .client import classify, counted_ago, error_message, provider_errors, redact
from .config import ProviderConfig
from .errors import AnswerRefused, ContextTooLong, MalformedResponse, Transient
from .tokenization import encoding_for_model

__all__ = ["ChatStream", "chat_body", "chat_open"]

CONTENT_FILTER = "content_filter"
# What breaks a stream mid-answer: the SDK's errors and its HTTP transport's (httpx, or the
# successor the SDK ships with), found through the SDK's own client class.
_TRANSPORT = sys.modules[openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0]]
STREAM_ERRORS = (openai.APIError, _TRANSPORT.HTTPError)


def chat_body(config: ProviderConfig, messages: list[dict[str, str]], max_tokens: int) -> dict[str, Any]:
    """The body of one streamed chat request; ``temperature`` 0, since an answer from sources should not wander."""
    return {
        "model": config.model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def chat_open(
    client: openai.OpenAI, config: ProviderConfig, *, messages: list[dict[str, str]], max_tokens: int, prompt_tokens: int = 0
) -> ChatStream:
    """Send the request and return its answer as a stream; raise a :class:`~providers.errors.ProviderError`.

    ``prompt_tokens`` is the caller's count of the prompt, the usage assumed if the stream ends
    without one. A 400 for the context's length is :class:`ContextTooLong` (send fewer sources);
    the provider's content filter refusing the prompt is :class:`AnswerRefused`.
    """
    with provider_errors(config):
        try:
            raw = client.chat.completions.with_raw_response.create(**chat_body(config, messages, max_tokens))
        except openai.BadRequestError as exc:
            raise _bad_request(exc, config) from None
    stream = raw.parse()
    return ChatStream(stream, config=config, headers=dict(raw.headers), received=time.monotonic(), prompt_tokens=prompt_tokens)


def _bad_request(exc: openai.BadRequestError, config: ProviderConfig) -> Exception:
    message = redact(error_message(exc), config.api_key)
    if exc.code == "context_length_exceeded":
        return ContextTooLong(message)
    if exc.code == CONTENT_FILTER:  # Azure's filter refuses the prompt itself
        return AnswerRefused(f"the provider's content filter refused the question: {message}", reason=CONTENT_FILTER)
    return classify(exc, secret=config.api_key)


class ChatStream:
    """An answer as it arrives: iterate for its pieces of text; then its usage and why it ended.

    ``total_tokens`` (what the limiter reconciles with) is the server's usage once the stream
    ended, else the caller's prompt count plus the pieces' own count so far: a stream cut short
    was still billed for what it wrote. Iterating raises :class:`AnswerRefused` after the last
    piece when the model refused or the content filter stopped it, and :class:`Transient` when
    the connection broke mid-answer.
    """

    def __init__(
        self, stream: Any, *, config: ProviderConfig, headers: dict[str, str], received: float, prompt_tokens: int
    ) -> None:
        self._stream = stream
        self._config = config
        self.headers = headers
        self.received = received
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = 0
        self.usage_reported = False
        self.finish_reason = ""
        self.refusal = ""
        self.pieces: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def total_tokens(self) -> int:
        if self.usage_reported:
            return self.prompt_tokens + self.completion_tokens
        return self.prompt_tokens + len(encoding_for_model(self._config.model).encode_ordinary(self.text))

    def counted_ago(self) -> float:
        return counted_ago(self.headers, self.received)

    def __iter__(self) -> Iterator[str]:
        try:
            for chunk in self._stream:
                yield from self._read(chunk)
        except STREAM_ERRORS as exc:
            raise Transient(redact(f"the answer broke off: {type(exc).__name__}: {exc}", self._config.api_key)) from None
        finally:
            self._stream.close()
        if self.refusal:
            raise AnswerRefused(f"the model declined to answer: {self.refusal}", reason="refusal", text=self.text)
        if self.finish_reason == CONTENT_FILTER:
            raise AnswerRefused(
                "the provider's content filter stopped the answer", reason=CONTENT_FILTER, text=self.text
            )

    def _read(self, chunk: Any) -> Iterator[str]:
        try:
            if chunk.usage is not None:
                self.prompt_tokens = int(chunk.usage.prompt_tokens)
                self.completion_tokens = int(chunk.usage.completion_tokens)
                self.usage_reported = True
            for choice in chunk.choices or ():
                if choice.finish_reason:
                    self.finish_reason = str(choice.finish_reason)
                delta = choice.delta
                if delta is None:
                    continue
                if getattr(delta, "refusal", None):
                    self.refusal += str(delta.refusal)
                if delta.content:
                    self.pieces.append(str(delta.content))
                    yield str(delta.content)
        except (TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(f"the provider's answer could not be read: {type(exc).__name__}") from None

    def close(self) -> None:
        self._stream.close()
