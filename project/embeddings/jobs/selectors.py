"""Reads of jobs and their failures, narrowed to what a viewer may see."""

from __future__ import annotations

from django.db.models import QuerySet

from project.embeddings.models import EmbeddingJob, FailedChunk
from project.embeddings.owners import Viewer, visible
from project.errors import JobNotFound

__all__ = ["failures_recent", "job_failures", "job_get", "job_list"]


def job_list(*, viewer: Viewer) -> QuerySet[EmbeddingJob]:
    """The jobs ``viewer`` may see (its own; staff and the operator: all), newest first."""
    return visible(EmbeddingJob.objects.all(), viewer=viewer).order_by("-pk")


def job_get(*, job_id: int, viewer: Viewer) -> EmbeddingJob:
    """The job, if ``viewer`` may see it; another owner's job is :class:`JobNotFound`, like a missing one."""
    try:
        return job_list(viewer=viewer).get(pk=job_id)
    except EmbeddingJob.DoesNotExist:
        raise JobNotFound(job_id) from None


def job_failures(*, job_id: int, viewer: Viewer) -> QuerySet[FailedChunk]:
    """The chunks the API rejected in a job ``viewer`` may see, with their reasons, oldest first."""
    job = job_get(job_id=job_id, viewer=viewer)
    return FailedChunk.objects.filter(job=job).select_related("chunk__document").order_by("pk")


def failures_recent(*, viewer: Viewer, limit: int = 20) -> list[FailedChunk]:
    """The latest failed chunks of the jobs ``viewer`` may see, newest first."""
    failures = visible(FailedChunk.objects.all(), viewer=viewer, owner_path="job__owner")
    return list(failures.select_related("chunk__document").order_by("-pk")[:limit])
