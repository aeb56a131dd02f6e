"""The provider errors a task acts on, one class per decision (STYLE.md: errors carry data)."""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every error a provider call ends in."""


class InvalidInput(ProviderError):
    """400: the request is wrong and would fail the same way again; never retried."""


class RequestTooLarge(ProviderError):
    """429 "Request too large": the group exceeds the server's TPM; split it, never retry as is."""


class RateLimited(ProviderError):
    """429: the server wants us to wait ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: float, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = headers


class AccountBlocked(ProviderError):
    """401/403, no quota, or an unknown model: nothing works until a person acts; pause the job."""


class Transient(ProviderError):
    """5xx, timeouts, dropped connections: retried with exponential backoff, up to a cap."""


class GroupNeverFits(ValueError):
    """A chunk needs more tokens in one request than the rate limit admits in a whole window."""
