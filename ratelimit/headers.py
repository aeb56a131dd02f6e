"""Reading OpenAI's ``x-ratelimit-*`` response headers: pure functions, no Redis.

Resets are Go durations (``20ms``, ``1.5s``, ``6m0s``, ``1h2m3s``); some compatible servers send
plain seconds (``"2"``), which are accepted too.

Example::

    parse_rate_limit_headers({"x-ratelimit-remaining-tokens": "999", "x-ratelimit-reset-tokens": "6m0s"})
    # ServerLimits(requests_limit=None, ..., tokens_remaining=999, tokens_reset=360.0)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ServerLimits", "parse_duration", "parse_rate_limit_headers"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_PLAIN = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string (``"1m30.5s"`` → ``90.5``) or a plain number of seconds.

    Raises ``ValueError`` for anything else, including negative durations.
    """
    value = text.strip()
    if _PLAIN.fullmatch(value):
        return float(value)
    position, seconds = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(value) or not value:
        raise ValueError(f"not a duration: {text!r}")
    return seconds


@dataclass(frozen=True)
class ServerLimits:
    """What the server said about its limits; ``None`` where a header was absent or unreadable."""

    requests_limit: int | None = None
    tokens_limit: int | None = None
    requests_remaining: int | None = None
    tokens_remaining: int | None = None
    requests_reset: float | None = None
    tokens_reset: float | None = None

    def is_empty(self) -> bool:
        return all(value is None for value in vars(self).values())


def _count(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError:
        return None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> ServerLimits:
    """The ``x-ratelimit-*`` headers of any mapping (names compared case-insensitively)."""
    found = {name.lower(): value for name, value in headers.items() if name.lower().startswith("x-ratelimit-")}
    return ServerLimits(
        requests_limit=_count(found.get("x-ratelimit-limit-requests")),
        tokens_limit=_count(found.get("x-ratelimit-limit-tokens")),
        requests_remaining=_count(found.get("x-ratelimit-remaining-requests")),
        tokens_remaining=_count(found.get("x-ratelimit-remaining-tokens")),
        requests_reset=_duration(found.get("x-ratelimit-reset-requests")),
        tokens_reset=_duration(found.get("x-ratelimit-reset-tokens")),
    )
