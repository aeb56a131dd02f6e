"""Server-side rate limits per (API key, model): an exact sliding window or a refilling bucket.

Both return decisions (data), never raise: the app turns a refusal into the 429 the real API
sends. The sliding window admits at most ``limit`` over ANY interval of ``window`` seconds;
the bucket refills continuously (``limit`` per window) and so allows a burst of up to twice
the limit inside one window, which is what a client must survive against some real servers.
State is in-process and guarded by one lock, so the limiter is safe from threads and tasks.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["Limits", "Usage", "Refusal", "Decision", "Limiter", "SlidingWindowLimiter", "BucketLimiter", "make_limiter"]


@dataclass(frozen=True)
class Limits:
    """Requests and tokens per window, requests per day; ``None`` is not enforced."""

    rpm: int | None
    tpm: int | None
    rpd: int | None = None
    window_seconds: float = 60.0
    day_seconds: float = 86_400.0


@dataclass(frozen=True)
class Usage:
    """What the ``x-ratelimit-*`` headers report; resets are seconds until back to full."""

    limit_requests: int | None
    remaining_requests: int
    reset_requests: float
    limit_tokens: int | None
    remaining_tokens: int
    reset_tokens: float


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: ``kind`` is the 429 type, ``period`` is "min" or "day"."""

    kind: str
    period: str
    limit: int
    used: int
    requested: int
    retry_after: float


@dataclass(frozen=True)
class Decision:
    """The answer to one ``acquire``: admitted or not, and the usage after it."""

    allowed: bool
    usage: Usage
    refusal: Refusal | None = None


class Limiter:
    """Common interface; subclasses keep per-key state under ``self._lock``."""

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic):
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()

    def acquire(self, key: Hashable, *, requests: int = 1, tokens: int = 0, now: float | None = None) -> Decision:
        """Admit ``requests`` and ``tokens`` together, or neither (a refusal burns nothing)."""
        with self._lock:
            return self._acquire(key, requests, tokens, self._clock() if now is None else now)

    def usage(self, key: Hashable, *, now: float | None = None) -> Usage:
        """The current usage of ``key`` without admitting anything."""
        with self._lock:
            return self._usage(key, self._clock() if now is None else now)

    def _acquire(self, key: Hashable, requests: int, tokens: int, now: float) -> Decision:
        raise NotImplementedError

    def _usage(self, key: Hashable, now: float) -> Usage:
        raise NotImplementedError


class _Window:
    __slots__ = ("minute", "requests", "tokens", "day")

    def __init__(self) -> None:
        self.minute: deque[tuple[float, int, int]] = deque()
        self.requests = 0
        self.tokens = 0
        self.day: deque[tuple[float, int]] = deque()

    def prune(self, now: float, window: float, day: float) -> None:
        minute = self.minute
        while minute and minute[0][0] <= now - window:
            _, requests, tokens = minute.popleft()
            self.requests -= requests
            self.tokens -= tokens
        while self.day and self.day[0][0] <= now - day:
            self.day.popleft()


def _wait_to_free(entries: deque, index: int, needed: int, expiry: float, now: float) -> float:
    """Seconds until the oldest entries have freed ``needed`` units of field ``index``."""
    freed = 0
    for entry in entries:
        freed += entry[index]
        if freed >= needed:
            return max(0.0, entry[0] + expiry - now)
    return math.inf


class SlidingWindowLimiter(Limiter):
    """Exact sliding log: over any ``window_seconds`` interval, admitted ≤ limit.

    Example::

        limiter = SlidingWindowLimiter(Limits(rpm=3, tpm=1000, window_seconds=6))
        limiter.acquire("key", tokens=10).allowed  # True
    """

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic):
        super().__init__(limits, clock=clock)
        self._windows: dict[Hashable, _Window] = {}

    def _window(self, key: Hashable, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window()
        window.prune(now, self.limits.window_seconds, self.limits.day_seconds)
        return window

    def _acquire(self, key: Hashable, requests: int, tokens: int, now: float) -> Decision:
        limits, w = self.limits, self._window(key, now)
        refusal = None
        if limits.rpm is not None and w.requests + requests > limits.rpm:
            wait = _wait_to_free(w.minute, 1, w.requests + requests - limits.rpm, limits.window_seconds, now)
            refusal = Refusal("requests", "min", limits.rpm, w.requests, requests, wait)
        elif limits.rpd is not None and len(w.day) + requests > limits.rpd:
            wait = _wait_to_free(w.day, 1, len(w.day) + requests - limits.rpd, limits.day_seconds, now)
            refusal = Refusal("requests", "day", limits.rpd, len(w.day), requests, wait)
        elif limits.tpm is not None and w.tokens + tokens > limits.tpm:
            wait = _wait_to_free(w.minute, 2, w.tokens + tokens - limits.tpm, limits.window_seconds, now)
            refusal = Refusal("tokens", "min", limits.tpm, w.tokens, tokens, wait)
        if refusal is None:
            w.minute.append((now, requests, tokens))
            w.requests += requests
            w.tokens += tokens
            if limits.rpd is not None:
                w.day.append((now, requests))
        return Decision(refusal is None, self._report(w, now), refusal)

    def _usage(self, key: Hashable, now: float) -> Usage:
        return self._report(self._window(key, now), now)

    def _report(self, w: _Window, now: float) -> Usage:
        limits = self.limits
        reset = max(0.0, w.minute[-1][0] + limits.window_seconds - now) if w.minute else 0.0
        return Usage(
            limits.rpm,
            max(0, limits.rpm - w.requests) if limits.rpm is not None else 0,
            reset,
            limits.tpm,
            max(0, limits.tpm - w.tokens) if limits.tpm is not None else 0,
            reset if w.tokens else 0.0,
        )


class _Levels:
    __slots__ = ("requests", "tokens", "day", "updated")

    def __init__(self, limits: Limits, now: float) -> None:
        self.requests = float(limits.rpm or 0)
        self.tokens = float(limits.tpm or 0)
        self.day = float(limits.rpd or 0)
        self.updated = now


class BucketLimiter(Limiter):
    """Continuously refilling buckets: capacity = limit, refilled at limit per window.

    Example::

        limiter = BucketLimiter(Limits(rpm=60, tpm=6000, window_seconds=60))
        limiter.acquire("key", tokens=100).usage.remaining_tokens  # 5900
    """

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic):
        super().__init__(limits, clock=clock)
        self._levels: dict[Hashable, _Levels] = {}

    def _refill(self, key: Hashable, now: float) -> _Levels:
        limits = self.limits
        levels = self._levels.get(key)
        if levels is None:
            levels = self._levels[key] = _Levels(limits, now)
        elapsed = max(0.0, now - levels.updated)
        levels.updated = now
        if limits.rpm is not None:
            levels.requests = min(limits.rpm, levels.requests + elapsed * limits.rpm / limits.window_seconds)
        if limits.tpm is not None:
            levels.tokens = min(limits.tpm, levels.tokens + elapsed * limits.tpm / limits.window_seconds)
        if limits.rpd is not None:
            levels.day = min(limits.rpd, levels.day + elapsed * limits.rpd / limits.day_seconds)
        return levels

    def _acquire(self, key: Hashable, requests: int, tokens: int, now: float) -> Decision:
        limits, b = self.limits, self._refill(key, now)
        refusal = None
        if limits.rpm is not None and b.requests < requests:
            wait = (requests - b.requests) * limits.window_seconds / limits.rpm
            refusal = Refusal("requests", "min", limits.rpm, limits.rpm - int(b.requests), requests, wait)
        elif limits.rpd is not None and b.day < requests:
            wait = (requests - b.day) * limits.day_seconds / limits.rpd
            refusal = Refusal("requests", "day", limits.rpd, limits.rpd - int(b.day), requests, wait)
        elif limits.tpm is not None and b.tokens < tokens:
            wait = math.inf if tokens > limits.tpm else (tokens - b.tokens) * limits.window_seconds / limits.tpm
            refusal = Refusal("tokens", "min", limits.tpm, limits.tpm - int(b.tokens), tokens, wait)
        if refusal is None:
            b.requests -= requests
            b.tokens -= tokens
            b.day -= requests
        return Decision(refusal is None, self._report(b), refusal)

    def _usage(self, key: Hashable, now: float) -> Usage:
        return self._report(self._refill(key, now))

    def _report(self, b: _Levels) -> Usage:
        limits = self.limits
        return Usage(
            limits.rpm,
            int(b.requests) if limits.rpm is not None else 0,
            (limits.rpm - b.requests) * limits.window_seconds / limits.rpm if limits.rpm else 0.0,
            limits.tpm,
            int(b.tokens) if limits.tpm is not None else 0,
            (limits.tpm - b.tokens) * limits.window_seconds / limits.tpm if limits.tpm else 0.0,
        )


def make_limiter(algorithm: str, limits: Limits) -> Limiter:
    """The limiter named by ``--algorithm``: "sliding" (default) or "bucket"."""
    if algorithm == "bucket":
        return BucketLimiter(limits)
    return SlidingWindowLimiter(limits)
