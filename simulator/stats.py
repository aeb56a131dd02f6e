"""Ground truth for judges: what the server saw, answered and admitted.

Every admission (a request counted toward the limits, with the tokens it was charged) goes
through ``record_admission``, which keeps, per (key, model), the exact maximum number of
requests and tokens admitted in ANY interval of one (scaled) window: a window ending at each
admission, over a deque of the admissions still inside it. A benchmark compares those maxima
with the limits to prove from the server's side that no client exceeded them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Stats", "OVERHEAD_SAMPLES"]

OVERHEAD_SAMPLES = 20_000  # most recent handling times kept for percentiles


@dataclass
class _Group:
    """Sliding maxima of one (key, model); ``day`` is kept only when a daily limit exists."""

    window: deque[tuple[float, int]] = field(default_factory=deque)
    requests_in_window: int = 0
    tokens_in_window: int = 0
    day: deque[float] = field(default_factory=deque)
    requests: int = 0
    tokens: int = 0
    max_requests_in_window: int = 0
    max_tokens_in_window: int = 0
    max_requests_in_day: int = 0


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


class Stats:
    """Counters and exact sliding maxima; thread-safe, reset with ``reset()``."""

    def __init__(self, *, window_seconds: float, day_seconds: float, track_day: bool):
        self._lock = threading.Lock()
        self.window_seconds = window_seconds
        self.day_seconds = day_seconds
        self.track_day = track_day
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (the limiter's own state is kept)."""
        with self._lock:
            self.started = time.monotonic()
            self.requests = 0
            self.successes = 0
            self.usage_tokens = 0
            self.inputs_served: Counter[str] = Counter()  # sha256 of each input's bytes -> times served
            self.rate_limited: Counter[str] = Counter()
            self.errors: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self._groups: dict[str, _Group] = {}
            self._timeline: dict[int, list[int]] = {}
            self._admissions: list[tuple[float, int, str]] = []  # (seconds since the reset, tokens, group), in order
            self._overhead: deque[float] = deque(maxlen=OVERHEAD_SAMPLES)
            self.batches: Counter[str] = Counter()
            self.batch_counts: Counter[str] = Counter()
            self.batch_inputs_served: Counter[str] = Counter()  # a batch line's inputs, apart from /v1/embeddings'
            self.max_enqueued_tokens = 0
            self.uploads: Counter[str] = Counter()  # files uploaded, by purpose

    def record_request(self) -> None:
        with self._lock:
            self.requests += 1

    def record_success(self, usage_tokens: int, overhead_ms: float) -> None:
        """A 200; ``overhead_ms`` is handling time without the simulated latency."""
        with self._lock:
            self.successes += 1
            self.usage_tokens += usage_tokens
            self._overhead.append(overhead_ms)

    def record_inputs(self, contents: Iterable[bytes]) -> None:
        """The inputs of a served (billed) request, by the sha256 of their bytes (a text's UTF-8)."""
        digests = [hashlib.sha256(content).hexdigest() for content in contents]
        with self._lock:
            self.inputs_served.update(digests)

    def record_error(self, status: int, kind: str | None = None) -> None:
        """Any non-200 answer; 429s are counted by type (requests, tokens, insufficient_quota)."""
        with self._lock:
            if status == 429 and kind:
                self.rate_limited[kind] += 1
            else:
                self.errors[str(status)] += 1

    def record_batch(self, status: str) -> None:
        """A batch reached a final status (completed, failed, expired, cancelled)."""
        with self._lock:
            self.batches[status] += 1

    def record_batch_output(
        self, *, completed: int, failed: int, inputs: int, usage_tokens: int, contents: Iterable[bytes] = ()
    ) -> None:
        """A finished batch's lines: kept apart from ``/v1/embeddings`` so each can be judged alone.

        ``contents`` are the inputs of its completed (billed) lines, counted per input like
        :meth:`record_inputs`, so a test can tell that nothing was paid twice on either lane.
        """
        digests = [hashlib.sha256(content).hexdigest() for content in contents]
        with self._lock:
            self.batch_counts.update(
                requests_completed=completed, requests_failed=failed, inputs=inputs, usage_tokens=usage_tokens
            )
            self.batch_inputs_served.update(digests)

    def record_upload(self, purpose: str) -> None:
        with self._lock:
            self.uploads[purpose] += 1

    def record_batch_created(self, enqueued_tokens: int) -> None:
        """A batch was accepted into the queue; ``enqueued_tokens``: the (key, model)'s total with it."""
        with self._lock:
            self.batch_counts["created"] += 1
            self.max_enqueued_tokens = max(self.max_enqueued_tokens, enqueued_tokens)

    def record_fault(self, fault: str) -> None:
        with self._lock:
            self.faults[fault] += 1

    def record_admission(self, group: str, tokens: int, now: float | None = None) -> None:
        """One request counted toward the limits of ``group``, charged ``tokens``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            g = self._groups.get(group)
            if g is None:
                g = self._groups[group] = _Group()
            g.requests += 1
            g.tokens += tokens
            g.window.append((now, tokens))
            g.requests_in_window += 1
            g.tokens_in_window += tokens
            while g.window[0][0] <= now - self.window_seconds:
                _, old = g.window.popleft()
                g.requests_in_window -= 1
                g.tokens_in_window -= old
            g.max_requests_in_window = max(g.max_requests_in_window, g.requests_in_window)
            g.max_tokens_in_window = max(g.max_tokens_in_window, g.tokens_in_window)
            if self.track_day:
                g.day.append(now)
                while g.day[0] <= now - self.day_seconds:
                    g.day.popleft()
                g.max_requests_in_day = max(g.max_requests_in_day, len(g.day))
            self._admissions.append((now - self.started, tokens, group))
            second = self._timeline.setdefault(int(now - self.started), [0, 0])
            second[0] += 1
            second[1] += tokens

    def admissions(self, model: str | None = None) -> list[list[float]]:
        """Every admission since the reset as ``[seconds since the reset, tokens]``, oldest first:
        how full the window was at any moment, to the millisecond (``/stats?admissions=1``); only
        ``model``'s (``&model=NAME``) when given: each model has a window of its own."""
        with self._lock:
            return [
                [round(at, 4), tokens]
                for at, tokens, group in self._admissions
                if model is None or group.endswith(f":{model}")
            ]

    def snapshot(self) -> dict[str, Any]:
        """Everything as JSON-ready data (see ``app.py`` for the full ``/stats`` document)."""
        with self._lock:
            groups = {
                name: {
                    "requests_admitted": g.requests,
                    "tokens_admitted": g.tokens,
                    "max_requests_in_window": g.max_requests_in_window,
                    "max_tokens_in_window": g.max_tokens_in_window,
                    "max_requests_in_day": g.max_requests_in_day,
                }
                for name, g in self._groups.items()
            }
            last = max(self._timeline, default=-1)
            timeline = [
                {"second": s, "requests": self._timeline.get(s, (0, 0))[0], "tokens": self._timeline.get(s, (0, 0))[1]}
                for s in range(last + 1)
            ]
            overhead = sorted(self._overhead)
            return {
                "elapsed_seconds": round(time.monotonic() - self.started, 3),
                "requests": self.requests,
                "successes": self.successes,
                "rate_limited": {"requests": 0, "tokens": 0, "insufficient_quota": 0, **self.rate_limited},
                "errors": dict(self.errors),
                "faults": {"hang": 0, "drop": 0, **self.faults},
                "requests_admitted": sum(g.requests for g in self._groups.values()),
                "tokens_admitted": sum(g.tokens for g in self._groups.values()),
                "usage_tokens": self.usage_tokens,
                "inputs": {
                    "served": sum(self.inputs_served.values()),
                    "distinct": len(self.inputs_served),
                    "most_per_input": max(self.inputs_served.values(), default=0),
                    "per_input": dict(self.inputs_served),
                },
                "max_requests_in_window": max((g.max_requests_in_window for g in self._groups.values()), default=0),
                "max_tokens_in_window": max((g.max_tokens_in_window for g in self._groups.values()), default=0),
                "max_requests_in_day": max((g.max_requests_in_day for g in self._groups.values()), default=0),
                "groups": groups,
                "overhead_ms": {
                    "samples": len(overhead),
                    "p50": round(_percentile(overhead, 0.50), 3),
                    "p90": round(_percentile(overhead, 0.90), 3),
                    "p99": round(_percentile(overhead, 0.99), 3),
                    "max": round(overhead[-1], 3) if overhead else 0.0,
                },
                "timeline": timeline,
                "batch": {
                    "batches": {"completed": 0, "failed": 0, "expired": 0, "cancelled": 0, **self.batches},
                    "requests_completed": self.batch_counts["requests_completed"],
                    "requests_failed": self.batch_counts["requests_failed"],
                    "inputs": self.batch_counts["inputs"],
                    "usage_tokens": self.batch_counts["usage_tokens"],
                    "created": self.batch_counts["created"],
                    "files_uploaded": self.uploads["batch"],
                    "max_enqueued_tokens": self.max_enqueued_tokens,
                    "inputs_served": {
                        "served": sum(self.batch_inputs_served.values()),
                        "distinct": len(self.batch_inputs_served),
                        "most_per_input": max(self.batch_inputs_served.values(), default=0),
                        "per_input": dict(self.batch_inputs_served),
                    },
                },
            }
