"""The exception tree of ``providers``: one root, one class per decision the caller makes.

Rate limiting that is merely "not now" is not an error: the gate returns a
:class:`~providers.gate.Passage` that says when to come back. Only what the caller must act on
raises, and every message is safe to show: none holds an API key.
"""

from __future__ import annotations

__all__ = [
    "AccountBlocked",
    "ConfigurationError",
    "InvalidInput",
    "MalformedResponse",
    "ProviderError",
    "RateLimited",
    "RequestTooLarge",
    "Transient",
    "UnknownModelError",
]


class ProviderError(Exception):
    """Root of every error raised by ``providers``."""


class ConfigurationError(ProviderError):
    """No usable provider is configured (no key, no URL)."""


class UnknownModelError(ProviderError):
    """The model has no tiktoken encoding, or none available offline."""


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
