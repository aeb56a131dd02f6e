"""Jobs counted for metrics and the status view: how many in each status, and their counters' sums."""

from __future__ import annotations

from django.db.models import Count, Sum

from project.embeddings.models import EmbeddingJob, Status

__all__ = ["JOB_COUNTERS", "job_counter_sums", "jobs_by_status"]

# The job counters that only grow while a job runs, summed over every job.
JOB_COUNTERS = ("embedded_chunks", "failed_chunks", "embedded_tokens", "requests", "http_429", "limiter_waits")


def jobs_by_status() -> dict[str, int]:
    """Every status, with 0 for those no job is in (so a gauge never disappears)."""
    counted = dict(EmbeddingJob.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return {status: counted.get(status, 0) for status in Status.values}


def job_counter_sums() -> dict[str, int]:
    """One aggregate query over the jobs table; cheap beside counting embeddings row by row."""
    sums = EmbeddingJob.objects.aggregate(**{name: Sum(name) for name in JOB_COUNTERS})
    return {name: int(sums[name] or 0) for name in JOB_COUNTERS}
