"""Response headers the real API sends: ``x-ratelimit-*`` with Go-style durations, ``retry-after``."""

from __future__ import annotations

import math

from simulator.limits import Usage

__all__ = ["go_duration", "ratelimit_headers", "retry_headers"]


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration`` at millisecond precision: ``20ms``, ``1.5s``, ``6m0s``.

    Rounded UP to the millisecond, so a client that waits exactly this long is never early.
    """
    if math.isinf(seconds):
        return "24h0m0s"
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def ratelimit_headers(usage: Usage) -> dict[str, str]:
    """The six ``x-ratelimit-*`` headers (those of an unlimited dimension are left out)."""
    headers: dict[str, str] = {}
    if usage.limit_requests is not None:
        headers["x-ratelimit-limit-requests"] = str(usage.limit_requests)
        headers["x-ratelimit-remaining-requests"] = str(usage.remaining_requests)
        headers["x-ratelimit-reset-requests"] = go_duration(usage.reset_requests)
    if usage.limit_tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(usage.limit_tokens)
        headers["x-ratelimit-remaining-tokens"] = str(usage.remaining_tokens)
        headers["x-ratelimit-reset-tokens"] = go_duration(usage.reset_tokens)
    return headers


def retry_headers(retry_after: float) -> dict[str, str]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms`` for a 429."""
    if math.isinf(retry_after):
        return {}
    ms = max(1, math.ceil(retry_after * 1000))
    return {"retry-after": str(math.ceil(ms / 1000)), "retry-after-ms": str(ms)}
