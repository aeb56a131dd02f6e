"""A job's progress for progress bars, the API and the dashboard: share done, ETA, index state, batches."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from project.embeddings.index.cover import JobIndex, job_index
from project.embeddings.jobs import tally
from project.embeddings.jobs.cost import job_cost_usd, job_saved_usd
from project.embeddings.models import ACTIVE_STATUSES, BatchState, EmbeddingJob, Lane, Status

__all__ = ["JobProgress", "job_batches", "job_done_chunks", "job_progress"]


@dataclass(frozen=True)
class JobProgress:
    """A job's counters, with the share done and an ETA, for the API and the dashboard."""

    job: EmbeddingJob
    done_chunks: int
    percent: float
    eta_seconds: float | None  # None: finished, or nothing measured and no limit to go by
    index: JobIndex  # a backfill's rows: loading, in a bulk index build, or indexed

    @property
    def active(self) -> bool:
        return self.job.status in ACTIVE_STATUSES

    @property
    def paid_tokens(self) -> int:
        """Tokens the provider billed (its usage); reused chunks cost none."""
        return self.job.embedded_tokens

    @property
    def cost_usd(self) -> float:
        return job_cost_usd(self.job)

    @property
    def saved_usd(self) -> float:
        return job_saved_usd(self.job)

    @property
    def batches(self) -> dict[str, int]:
        """The batch lane's batches by state (the provider's status while it runs them)."""
        return job_batches(self.job) if self.job.lane == Lane.BATCH else {}


def job_done_chunks(job: EmbeddingJob) -> int:
    return job.embedded_chunks + job.failed_chunks


def job_batches(job: EmbeddingJob) -> dict[str, int]:
    """How many of the job's batches are in each state (a submitted one by the provider's status)."""
    counts: dict[str, int] = {}
    for row in job.batches.values("state", "remote_status").annotate(n=Count("pk")):
        submitted = row["state"] == BatchState.SUBMITTED and row["remote_status"]
        name = row["remote_status"] if submitted else row["state"]
        counts[name] = counts.get(name, 0) + row["n"]
    return counts


def job_progress(job: EmbeddingJob, *, now: datetime | None = None) -> JobProgress:
    """Progress and ETA: the remaining tokens at the rate measured so far, else at the configured limit.

    The job's counters include its tallies not folded yet (``tally.py``), so every reader sees
    the same figures at the same moment.
    """
    job = tally.with_unfolded(job)
    done = job_done_chunks(job)
    percent = 100.0 if job.total_chunks == 0 else round(100.0 * done / job.total_chunks, 1)
    return JobProgress(
        job=job, done_chunks=done, percent=percent, eta_seconds=_eta(job, now or timezone.now()), index=job_index(job)
    )


def _eta(job: EmbeddingJob, now: datetime) -> float | None:
    if job.status not in ACTIVE_STATUSES and job.status != Status.PAUSED:
        return None
    remaining = max(0, job.total_tokens - job.embedded_tokens - job.reused_tokens)
    if remaining == 0:
        return 0.0
    elapsed = (now - job.started_at).total_seconds() if job.started_at else 0.0
    if job.embedded_tokens and elapsed > 0:
        rate = job.embedded_tokens / elapsed
    else:
        rate = settings.TOLLGATE_TPM / settings.TOLLGATE_WINDOW_SECONDS
    return round(remaining / rate, 1) if rate > 0 else None
