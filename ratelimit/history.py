"""What the limiter did over the last windows, bucket by bucket: the data behind the charts.

Every worker's admissions, refusals, 429s and cooldowns are counted in Redis by the same atomic
scripts that decide them (``lua/_history.lua``), in buckets of a fraction of the window on
Redis's clock, so the history is the whole pool's, not one process's. Buckets are kept for a
number of windows and then deleted; the totals (``all:*`` fields) only grow, for counters.
:meth:`ratelimit.Limiter.history` returns a :class:`History`; nothing here draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Bucket", "History", "Totals", "WindowPoint", "parse_history"]

US = 1_000_000


@dataclass(frozen=True)
class Bucket:
    """One bucket of ``History.bucket_seconds`` starting at ``start`` (Redis time, seconds).

    ``tokens`` are the admitted estimates corrected by the responses' usage; ``cooldown_until``
    is the latest end of a cooldown set during the bucket (0: none was).
    """

    start: float
    requests: int = 0
    tokens: int = 0
    refusals: int = 0
    throttled: int = 0
    cooldowns: int = 0
    cooldown_until: float = 0.0


@dataclass(frozen=True)
class Totals:
    """Everything counted since the history began (it ends after many idle windows): only grows."""

    requests: int = 0
    tokens: int = 0  # admitted, as estimated when admitted
    tokens_added: int = 0  # responses used more than estimated
    tokens_returned: int = 0  # responses used less
    refusals: int = 0
    throttled: int = 0
    cooldowns: int = 0
    served_seconds: float = 0.0  # the server's processing time (openai-processing-ms), summed
    served: int = 0  # responses that reported it


@dataclass(frozen=True)
class WindowPoint:
    """Requests and tokens admitted in the window that ends with a bucket (a rolling sum)."""

    end: float
    requests: int
    tokens: int


@dataclass(frozen=True)
class History:
    """The last buckets, oldest first and without gaps, the totals, and the moment of reading."""

    at: float
    window_seconds: float
    bucket_seconds: float
    buckets: tuple[Bucket, ...]
    totals: Totals

    @property
    def per_window(self) -> list[WindowPoint]:
        """Rolling sums over a window's worth of buckets: what the limits bound, point by point.

        Each sum covers an interval of exactly the window's length, in which the limiter never
        admits more than the limit, so these points sit at or under the limit line.
        """
        span = max(1, round(self.window_seconds / self.bucket_seconds))
        points = []
        for i, bucket in enumerate(self.buckets):
            run = self.buckets[max(0, i - span + 1) : i + 1]
            points.append(
                WindowPoint(bucket.start + self.bucket_seconds, sum(b.requests for b in run), sum(b.tokens for b in run))
            )
        return points


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_history(reply: Sequence[Any], *, window_us: int, bucket_us: int, count: int) -> History:
    """Turn ``history.lua``'s reply (now, then the hash flat) into the last ``count`` buckets."""
    now_us = int(reply[0])
    fields = {_text(reply[i]): int(reply[i + 1]) for i in range(1, len(reply) - 1, 2)}
    current = now_us // bucket_us
    buckets = tuple(_bucket(fields, index, bucket_us) for index in range(current - count + 1, current + 1))

    def total(what: str) -> int:
        return fields.get(f"all:{what}", 0)

    totals = Totals(
        requests=total("r"),
        tokens=total("t"),
        tokens_added=total("x"),
        tokens_returned=total("g"),
        refusals=total("w"),
        throttled=total("e"),
        cooldowns=total("c"),
        served_seconds=total("s") / US,
        served=total("n"),
    )
    return History(now_us / US, window_us / US, bucket_us / US, buckets, totals)


def _bucket(fields: dict[str, int], index: int, bucket_us: int) -> Bucket:
    def value(what: str) -> int:
        return fields.get(f"b:{index}:{what}", 0)

    return Bucket(
        start=index * bucket_us / US,
        requests=value("r"),
        tokens=value("t") + value("x") - value("g"),
        refusals=value("w"),
        throttled=value("e"),
        cooldowns=value("c"),
        cooldown_until=value("u") / US,
    )
