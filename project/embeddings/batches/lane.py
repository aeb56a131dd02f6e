"""Which lane a job runs on: the per-minute limits (sync), or the Batch API at half the price."""

from __future__ import annotations

from project.embeddings.models import Lane
from project.errors import UnknownLane
from project.provider import BATCH_WINDOW_HOURS, batch_auto_tokens

__all__ = ["lane_choose"]


def lane_choose(requested: str, *, tokens: int, deadline_hours: float | None = None) -> str:
    """The lane a job of ``tokens`` runs on: as asked, or for ``auto`` the batch lane when it is large
    and no deadline shorter than the Batch API's 24 h window is asked for."""
    if requested in (Lane.SYNC, Lane.BATCH):
        return requested
    if requested != "auto":
        raise UnknownLane(requested)
    in_time = deadline_hours is None or deadline_hours >= BATCH_WINDOW_HOURS
    return Lane.BATCH if in_time and tokens >= batch_auto_tokens() else Lane.SYNC
