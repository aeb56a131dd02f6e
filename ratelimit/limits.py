"""What the limiter is told (:class:`Limits`) and what it answers (:class:`Decision`, :class:`Usage`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Decision", "Limits", "Usage"]

DEFAULT_WINDOW_SECONDS = 60.0  # OpenAI's per-minute limits


@dataclass(frozen=True)
class Limits:
    """The limits of one (account, model), per sliding window.

    Parameters
    ----------
    requests:
        Requests admitted over any window (RPM when the window is 60 s).
    tokens:
        Tokens admitted over any window (TPM).
    window_seconds:
        The window's length; shorter than 60 only for tests and time-scaled simulators.
    requests_per_day:
        Requests over any 24 hours, or ``None`` for no daily limit.

    Example
    -------
    >>> Limits(requests=3000, tokens=1_000_000)
    Limits(requests=3000, tokens=1000000, window_seconds=60.0, requests_per_day=None)
    """

    requests: int
    tokens: int
    window_seconds: float = DEFAULT_WINDOW_SECONDS
    requests_per_day: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests", "tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive int, got {value!r}")
        if not (math.isfinite(self.window_seconds) and self.window_seconds >= 0.001):
            raise ValueError(f"Limits.window_seconds must be at least 0.001, got {self.window_seconds!r}")
        rpd = self.requests_per_day
        if rpd is not None and (not isinstance(rpd, int) or rpd < 1):
            raise ValueError(f"Limits.requests_per_day must be a positive int or None, got {rpd!r}")

    @property
    def window_us(self) -> int:
        return round(self.window_seconds * 1_000_000)


@dataclass(frozen=True)
class Decision:
    """The answer of :meth:`Limiter.acquire`.

    ``retry_after`` is the exact number of seconds until this request would fit if nobody else
    is admitted meanwhile (0 when admitted). ``at`` is the Redis time of the decision in seconds
    since the epoch: for an admission, its place in the window. ``reason`` names the limit that
    refused (``"requests"``, ``"tokens"``, ``"requests_per_day"``, ``"cooldown"``, or ``"restart"``
    when Redis was found to have lost the window, see :meth:`Limiter.acquire`) or is ``""``.
    ``admission`` identifies the admission for :meth:`Limiter.reconcile`. ``delay`` is how long an
    admission is booked ahead (a reservation, see :meth:`Limiter.acquire`): the request is sent
    then; ``at`` is that moment.
    """

    admitted: bool
    retry_after: float
    at: float
    reason: str = ""
    requests_used: int = 0
    tokens_used: int = 0
    requests_limit: int = 0
    tokens_limit: int = 0
    admission: str = ""
    delay: float = 0.0

    @property
    def reserved(self) -> bool:
        """Admitted for a moment ``delay`` seconds from the decision: send then, not before."""
        return self.admitted and self.delay > 0


@dataclass(frozen=True)
class Usage:
    """A snapshot for the dashboard: the sliding window's use right now.

    Limits are the effective ones (smaller when the server's headers said so).
    ``requests_per_day_used``/``_limit`` are ``None`` without a daily limit.
    """

    requests_used: int
    requests_limit: int
    tokens_used: int
    tokens_limit: int
    cooldown_seconds: float
    window_seconds: float
    requests_per_day_used: int | None = None
    requests_per_day_limit: int | None = None
    at: float = 0.0
