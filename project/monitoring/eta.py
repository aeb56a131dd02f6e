"""A job's ETA, and what it rests on: the job's own measured pace once it has one, the limit's before.

Before a response is stored there is no pace to measure, so the remaining tokens are divided by
what the shared limit admits (tokens per window, or requests per window times the job's tokens
per request, whichever is less): a floor, since latency, the workers' slots and other jobs can only
slow it. A job still at 0% after that floor's time has passed is late, so the floor is counted from
now and said to be one. Once tokens are stored, the pace is the tokens stored since the job
started over the time since, and the ETA the remaining tokens at that pace.

Example::

    eta = job_eta(job_progress(job))
    eta.seconds, eta.basis  # (41.5, "measured")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from project.embeddings.jobs.progress import JobProgress

from .humane import duration

__all__ = ["LIMIT", "MEASURED", "Eta", "eta_label", "job_eta"]

MEASURED = "measured"  # the job's own pace so far
LIMIT = "limit"  # the shared limit's pace: nothing measured yet


@dataclass(frozen=True)
class Eta:
    seconds: float | None  # None: ended, paused, or no pace to go by
    basis: str = ""  # MEASURED or LIMIT ("" with no ETA)
    tokens_per_second: float | None = None
    at: datetime | None = None  # when it should end

    @property
    def label(self) -> str:
        return eta_label(self.seconds, self.basis)

    @property
    def words(self) -> str:
        """How a person should read it: "at its pace so far", "at least, at the limit's rate"."""
        return {MEASURED: "at its pace so far", LIMIT: "at least: the limit's rate, nothing measured yet"}.get(
            self.basis, ""
        )


def eta_label(seconds: float | None, basis: str) -> str:
    """``≈ 2 min 5 s`` at the job's pace, ``≥ 13 s`` at the limit's (a floor), ``< 1 s``, or ``–`` with no ETA."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return "< 1 s"
    return f"{'≥' if basis == LIMIT else '≈'} {duration(seconds)}"


def job_eta(progress: JobProgress, *, now: datetime | None = None) -> Eta:
    now = now or timezone.now()
    job = progress.job
    if not progress.active:
        return Eta(None)
    remaining = max(0, job.total_tokens - job.embedded_tokens - job.reused_tokens)
    if remaining == 0:
        return Eta(0.0, MEASURED if job.embedded_tokens else LIMIT, None, now)
    elapsed = (now - job.started_at).total_seconds() if job.started_at else 0.0
    if job.embedded_tokens and elapsed > 0:
        rate, basis = job.embedded_tokens / elapsed, MEASURED
    else:
        rate, basis = _limit_rate(job.total_tokens, job.total_groups), LIMIT
    if not rate:
        return Eta(None)
    seconds = round(remaining / rate, 1)
    return Eta(seconds, basis, round(rate, 1), now + timedelta(seconds=seconds))


def _limit_rate(tokens: int, groups: int) -> float:
    """Tokens per second the configured limit admits a job of ``tokens`` in ``groups`` requests."""
    window = settings.TOLLGATE_WINDOW_SECONDS
    by_tokens = settings.TOLLGATE_TPM / window
    by_requests = settings.TOLLGATE_RPM / window * (tokens / groups) if groups else by_tokens
    return min(by_tokens, by_requests)
