"""The exception tree of ``ratelimit``: one root, errors that carry data.

"Not now" is not an error: :meth:`Limiter.acquire` returns a refused :class:`Decision`.
Only what retrying cannot fix raises.
"""

from __future__ import annotations

__all__ = ["LimiterUnavailable", "NeverFits", "RateLimitError"]


class RateLimitError(Exception):
    """Root of every error raised by ``ratelimit``."""


class NeverFits(RateLimitError):
    """A request larger than a limit: it can never be admitted, so it must not be retried.

    Parameters
    ----------
    limit:
        The most the limit can ever admit for this caller (after any reserve).
    requested:
        What the request asked for.
    dimension:
        ``"tokens"``, ``"requests"`` or ``"requests_per_day"``.
    """

    def __init__(self, limit: int, requested: int, dimension: str = "tokens") -> None:
        self.limit = limit
        self.requested = requested
        self.dimension = dimension
        super().__init__(f"request of {requested} {dimension} can never fit a limit of {limit} {dimension} per window")


class LimiterUnavailable(RateLimitError):
    """Redis could not be reached or answered with an error; ``address`` is ``host:port``."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"rate limiter Redis at {address} is unavailable: {reason}")
