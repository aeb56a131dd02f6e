"""The exception tree of ``providers``: one root, one class per decision the caller makes.

Rate limiting that is merely "not now" is not an error: the gate returns a
:class:`~providers.gate.Passage` that says when to come back. Only what the caller must act on
raises, and every message is safe to show: none holds an API key.
"""

from __future__ import annotations

__all__ = [
    "AccountBlocked",
    "AnswerRefused",
    "ContextTooLong",
    "ConfigurationError",
    "InvalidInput",
    "MalformedResponse",
    "ProviderError",
    "RateLimited",
    "RequestTooLarge",
    "Transient",
    "UnknownChatModel",
    "UnknownModelError",
]


class ProviderError(Exception):
    """Root of every error raised by ``providers``. ``field`` names the caller's input at fault, if one is."""

    field: str | None = None


class ConfigurationError(ProviderError):
    """No usable provider is configured (no key, no URL)."""


class UnknownModelError(ProviderError):
    """The model has no tiktoken encoding, or none available offline."""


class UnknownChatModel(UnknownModelError):
    """A chat model the catalog has no limits, prices or context length for: nothing is sent."""

    field = "model"

    def __init__(self, model: str, *, known: tuple[str, ...]) -> None:
        self.model, self.known = model, known
        super().__init__(f"unknown chat model {model!r}: choose one of {', '.join(known)}")


class InvalidInput(ProviderError):
    """400: the request is wrong and would fail the same way again; never retried."""


class MalformedResponse(ProviderError):
    """A 200 whose body cannot be read (no usage, an index out of range, a torn vector): it was paid
    for, so it is never sent again; its inputs fail with the reason."""


class RequestTooLarge(ProviderError):
    """429 "Request too large": the group exceeds the server's TPM; split it, never retry as is."""


class RateLimited(ProviderError):
    """429: the server (or, for an interactive caller out of time, the shared limit) wants a wait.

    Parameters
    ----------
    retry_after:
        Seconds to wait before the same request can pass.
    headers:
        The response's headers (empty when no request was sent), for the limiter to learn from.
    """

    def __init__(self, message: str, *, retry_after: float, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = headers


class AccountBlocked(ProviderError):
    """401/403, no quota, or an unknown model: nothing works until a person acts; pause the job."""


class Transient(ProviderError):
    """5xx, timeouts, dropped connections: retried with exponential backoff, up to a cap.

    Parameters
    ----------
    retry_after:
        Seconds the server asked for (``Retry-After`` or ``retry-after-ms`` on a 503, say): the
        retry waits at least this long, whatever its backoff. 0 when it said nothing.
    """

    def __init__(self, message: str, *, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContextTooLong(InvalidInput):
    """400 ``context_length_exceeded``: the prompt and the answer's room exceed the model's context."""


class AnswerRefused(ProviderError):
    """The chat model refused to answer, or the provider's content filter stopped the answer.

    ``reason`` is ``"refusal"`` or ``"content_filter"``; ``text`` what was written before it.
    Billed like any answer: never sent again as it is.
    """

    field = "question"

    def __init__(self, message: str, *, reason: str, text: str = "") -> None:
        super().__init__(message)
        self.reason, self.text = reason, text
