"""A job's figures as every face shows them: its progress, its requests in flight, its ETA and its basis.

The dashboard's job rows and job page, ``tollgate status`` and the API read jobs through
:func:`jobs_figures`, so they agree: the counters are the job row's (``job_progress``), in flight
is the groups workers hold (``flight.py``), the ETA says what it rests on (``eta.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from django.utils import timezone

from project.embeddings.jobs.progress import JobProgress, job_progress
from project.embeddings.models import EmbeddingJob

from .eta import Eta, job_eta
from .flight import requests_in_flight

__all__ = ["JobFigures", "job_figures", "jobs_figures"]


@dataclass(frozen=True)
class JobFigures(JobProgress):
    """:class:`JobProgress`, with the requests in flight now and the ETA with its basis."""

    in_flight: int = 0
    eta: Eta = Eta(None)

    @property
    def requests_done(self) -> int:
        return self.job.requests


def jobs_figures(jobs: Iterable[EmbeddingJob], *, now: datetime | None = None) -> list[JobFigures]:
    """Each job's figures as of ``now`` (its ``eta_seconds`` is ``eta.seconds``: one ETA, whoever reads it)."""
    now = now or timezone.now()
    progress = [job_progress(job, now=now) for job in jobs]
    flight = requests_in_flight(p.job.pk for p in progress)
    figures = []
    for p in progress:
        eta = job_eta(p, now=now)
        values = {f.name: getattr(p, f.name) for f in fields(JobProgress)} | {"eta_seconds": eta.seconds}
        figures.append(JobFigures(**values, in_flight=flight[p.job.pk], eta=eta))
    return figures


def job_figures(job: EmbeddingJob, *, now: datetime | None = None) -> JobFigures:
    return jobs_figures([job], now=now)[0]
