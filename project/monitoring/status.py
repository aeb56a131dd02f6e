"""One snapshot of everything ``tollgate status`` shows: jobs, the shared limit, workers, queues.

Plain data (JSON-ready), so ``--json`` and the terminal view show the same thing. A part that
cannot be read (no provider configured, Redis or the broker not answering) carries an ``error``
in place of its figures instead of failing the whole snapshot.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.utils import timezone

from project.embeddings.jobs.selectors import job_list
from project.errors import expected

from .figures import JobFigures, jobs_figures
from .limiter import limiter_view
from .pool import job_deployments, pool_views
from .queues import queue_depths
from .workers import workers_status

__all__ = ["status_snapshot"]

JOBS_SHOWN = 10


def status_snapshot(*, jobs: int = JOBS_SHOWN) -> dict[str, Any]:
    now = timezone.now()
    return {
        "at": now.isoformat(),
        # the operator's view: every job
        "jobs": [_job(figures) for figures in jobs_figures(job_list(viewer=None)[:jobs], now=now)],
        "limiter": _part(_limiter),
        "workers": _part(_workers),
        "queues": _part(queue_depths),
    }


def _part(read: Any) -> Any:
    try:
        return read()
    except expected() as exc:
        return {"error": str(exc)}


def _job(progress: JobFigures) -> dict[str, Any]:
    job = progress.job
    return {
        "id": job.pk,
        "status": job.status,
        "lane": job.lane,
        "batches": progress.batches,
        "cost_usd": progress.cost_usd,
        "model": job.model,
        "percent": progress.percent,
        "chunks": {"done": progress.done_chunks, "total": job.total_chunks, "failed": job.failed_chunks},
        "tokens": {"done": job.embedded_tokens, "total": job.total_tokens},
        "deployments": job_deployments(job.pk),  # a pool's deployments that served it: groups and tokens each
        "requests": job.requests,  # answered and counted
        "requests_in_flight": progress.in_flight,  # being sent now (a worker holds the group)
        "http_429": job.http_429,
        "limiter_waits": job.limiter_waits,
        "eta_seconds": progress.eta.seconds,
        "eta_basis": progress.eta.basis,  # "measured": the job's pace so far; "limit": the limit's, a floor
        "last_error": job.last_error,
    }


def _limiter() -> dict[str, Any]:
    view = limiter_view(windows=1)
    usage, totals = view.usage, view.history.totals
    return {
        "model": usage.model,
        "window_seconds": usage.window_seconds,
        "requests": {"used": usage.requests_used, "limit": usage.requests_limit, "percent": usage.requests_percent},
        "tokens": {"used": usage.tokens_used, "limit": usage.tokens_limit, "percent": usage.tokens_percent},
        "cooldown_seconds": usage.cooldown_seconds,
        "deployments": [view.as_dict() for view in pool_views()],  # each deployment of a pool: window, breaker, share
        "totals": {
            "requests": totals.requests,
            "tokens": totals.tokens,
            "waits": totals.refusals,
            "http_429": totals.throttled,
            "cooldowns": totals.cooldowns,
        },
    }


def _workers() -> dict[str, Any]:
    status = workers_status()
    return {
        "online": len(status.workers),
        "running": status.running,
        "embedding": status.embedding,  # of the running tasks, embed_group ones: a group in flight each
        "tasks_per_second": status.tasks_per_second,
        "workers": [asdict(worker) for worker in status.workers],
    }
