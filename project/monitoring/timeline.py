"""A job's progress over time, from its samples (:class:`~project.monitoring.models.JobSample`).

Long jobs have many samples (one a second at most); a chart needs a couple of hundred points,
so the samples are binned in PostgreSQL (``date_bin``), keeping each bin's latest counters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Max, Min
from django.utils import timezone

from project.embeddings.models import EmbeddingJob

from .figures import JobFigures, job_figures
from .models import SAMPLE_SECONDS, JobSample

__all__ = ["JobTimeline", "ProgressPoint", "job_timeline"]

MOST_POINTS = 200  # points per job chart; more samples are binned


@dataclass(frozen=True)
class ProgressPoint:
    at: datetime
    done_chunks: int  # embedded + failed
    embedded_tokens: int


@dataclass(frozen=True)
class JobTimeline:
    """A job's figures (counters, in flight, ETA: :func:`job_figures`) and its points, oldest first."""

    progress: JobFigures
    points: tuple[ProgressPoint, ...]
    now: datetime

    @property
    def job(self) -> EmbeddingJob:
        return self.progress.job

    @property
    def eta_at(self) -> datetime | None:
        """When a running (or queued) job should end (``eta.py``: at its pace, or at least at the limit's)."""
        return self.progress.eta.at

    def percent(self, point: ProgressPoint) -> float:
        total = self.job.total_chunks
        return 100.0 if total == 0 else 100.0 * point.done_chunks / total


def job_timeline(job: EmbeddingJob, *, most: int = MOST_POINTS, now: datetime | None = None) -> JobTimeline:
    """The job's progress points, at most ``most`` of them, and its ETA, as of ``now``."""
    now = now or timezone.now()
    return JobTimeline(job_figures(job, now=now), _points(job.pk, most), now)


def _points(job_id: int, most: int) -> tuple[ProgressPoint, ...]:
    span = JobSample.objects.filter(job_id=job_id).aggregate(first=Min("at"), last=Max("at"))
    if span["first"] is None:
        return ()
    step = max(timedelta(seconds=SAMPLE_SECONDS), (span["last"] - span["first"]) / max(1, most - 1))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(at), max(embedded_chunks + failed_chunks), max(embedded_tokens)"
            " FROM monitoring_jobsample WHERE job_id = %s"
            " GROUP BY date_bin(%s, at, %s) ORDER BY 1",
            [job_id, step, span["first"]],
        )
        return tuple(ProgressPoint(at, done, tokens) for at, done, tokens in cursor.fetchall())
