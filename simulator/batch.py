"""One batch's timeline: its status, progress and timestamps at any moment, computed from time.

Nothing runs in the background: a batch knows when it was created, how long each phase
lasts (validating, in_progress, finalizing: 5%, 90%, 5% of its duration), where it stalls
if it is to expire, and when it was cancelled, so any read can say where it is now. Lines
run in a shuffled order, so a part-done batch holds a random subset and outputs come in
no particular order, as the real API's do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from simulator.batch_input import BatchLine

__all__ = ["Batch", "FINAL_STATUSES", "VALIDATING_SHARE", "FINALIZING_SHARE"]

FINAL_STATUSES = ("completed", "failed", "expired", "cancelled")
VALIDATING_SHARE = 0.05
FINALIZING_SHARE = 0.05


@dataclass
class Batch:
    """A batch and its plan; ``status(now)`` and friends read the plan at ``now``."""

    id: str
    owner: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    created: float
    duration: float  # seconds from creation to completion if nothing interrupts it
    window: float  # the 24h completion window, scaled
    model: str | None = None
    lines: list[BatchLine] = field(default_factory=list)
    failing: frozenset[str] = frozenset()  # custom_ids of lines that fail by injected fault
    charged_tokens: int = 0
    errors: list[dict[str, Any]] | None = None
    stall: float | None = None  # share of lines done when an expiring batch stops
    cancelling_at: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    usage_tokens: int = 0
    finished: bool = False

    @property
    def validated_at(self) -> float:
        return self.created + VALIDATING_SHARE * self.duration

    @property
    def run_ends(self) -> float:
        return self.validated_at + (1 - VALIDATING_SHARE - FINALIZING_SHARE) * self.duration

    @property
    def expires_at(self) -> float:
        return self.created + self.window

    @property
    def expires(self) -> bool:
        """Whether this batch stops part-done: by fault, or because it cannot finish in its window."""
        return self.stall is not None or self.run_ends > self.expires_at

    def done(self, now: float) -> int:
        """Lines run by ``now`` (frozen at a cancel or at expiry)."""
        if self.cancelling_at is not None:
            now = min(now, self.cancelling_at)
        if self.errors is not None or now <= self.validated_at:
            return 0
        now = min(now, self.expires_at)
        share = min(1.0, (now - self.validated_at) / max(self.run_ends - self.validated_at, 1e-9))
        if self.stall is not None:
            share = min(share, self.stall)
        return math.floor(share * len(self.lines))

    def status(self, now: float) -> str:
        if now < self.validated_at and self.cancelling_at is None:
            return "validating"
        if self.errors is not None:
            return "failed"
        if self.cancelling_at is not None:
            return "cancelling" if now < self.cancelling_at + FINALIZING_SHARE * self.duration else "cancelled"
        if self.expires:
            return "expired" if now >= self.expires_at else "in_progress"
        if now < self.run_ends:
            return "in_progress"
        return "finalizing" if now < self.run_ends + FINALIZING_SHARE * self.duration else "completed"

    def counts(self, now: float) -> dict[str, int]:
        """``request_counts``: lines completed and failed so far."""
        ran = self.lines[: self.done(now)]
        failed = sum(1 for line in ran if line.error is not None or line.custom_id in self.failing)
        return {"total": len(self.lines), "completed": len(ran) - failed, "failed": failed}

    def timestamps(self, now: float) -> dict[str, int | None]:
        """The ``*_at`` fields: each is set once its moment has passed."""
        status = self.status(now)
        at = dict.fromkeys(("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at",
                            "cancelling_at", "cancelled_at"))
        if self.errors is not None:
            at["failed_at"] = int(self.validated_at) if status == "failed" else None
            return at
        if now >= self.validated_at and (self.cancelling_at is None or self.cancelling_at > self.validated_at):
            at["in_progress_at"] = int(self.validated_at)
        if self.cancelling_at is not None:
            at["cancelling_at"] = int(self.cancelling_at)
            if status == "cancelled":
                at["cancelled_at"] = int(self.cancelling_at + FINALIZING_SHARE * self.duration)
        elif status == "expired":
            at["expired_at"] = int(self.expires_at)
        elif status in ("finalizing", "completed"):
            at["finalizing_at"] = int(self.run_ends)
            if status == "completed":
                at["completed_at"] = int(self.run_ends + FINALIZING_SHARE * self.duration)
        return at

    def public(self, now: float) -> dict[str, Any]:
        """The batch object, as ``GET /v1/batches/{id}`` answers it."""
        errors = None if self.errors is None or now < self.validated_at else {"object": "list", "data": self.errors}
        show_files = self.finished
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint, "model": self.model, "errors": errors,
            "input_file_id": self.input_file_id, "completion_window": "24h", "status": self.status(now),
            "output_file_id": self.output_file_id if show_files else None,
            "error_file_id": self.error_file_id if show_files else None,
            "created_at": int(self.created), "expires_at": int(self.expires_at), **self.timestamps(now),
            "request_counts": self.counts(now), "metadata": self.metadata,
            "usage": {
                "input_tokens": self.usage_tokens, "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 0, "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": self.usage_tokens,
            },
        }
