"""A page per job (``/jobs/<id>/``): its counters, its chart, its failures and its buttons.

The page is a frame; its live part and its failures are fragments htmx polls. The buttons post
to the dashboard's one action view (``views.job_action``) with ``view=job``, which answers with
this page's live fragment, so pause/resume/cancel and their error messages are defined once.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from project.embeddings.jobs import selectors as job_selectors
from project.embeddings.models import EmbeddingJob
from project.errors import JobNotFound
from project.monitoring.pool import job_deployments
from project.monitoring.timeline import job_timeline

from .charts import progress_chart

FAILURES_SHOWN = 50


@login_required
@require_GET
def job_page(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    return render(request, "dashboard/job.html", {"job": job, "flower_url": settings.TOLLGATE_FLOWER_URL})


@login_required
@require_GET
def job_live(request: HttpRequest, pk: int) -> HttpResponse:
    return live_fragment(request, pk)


def live_fragment(request: HttpRequest, pk: int, *, status: int = 200) -> HttpResponse:
    """The job's counters, chart and buttons (also the answer to a button on this page)."""
    job = _job(request, pk)
    now = timezone.now()
    timeline = job_timeline(job, now=now)
    chart = progress_chart([timeline], now=now, id="chart-job")
    context = {"p": timeline.progress, "timeline": timeline, "chart": chart, "deployments": job_deployments(job.pk)}
    return render(request, "dashboard/_job_live.html", context, status=status)


@login_required
@require_GET
def job_failures(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    failures = list(job_selectors.job_failures(job_id=job.pk, viewer=request.user)[:FAILURES_SHOWN])
    return render(request, "dashboard/_failures.html", {"failures": failures, "total": job.failed_chunks})


def _job(request: HttpRequest, pk: int) -> EmbeddingJob:
    """The job if this user may see it; another owner's job is a 404, like a missing one."""
    try:
        return job_selectors.job_get(job_id=pk, viewer=request.user)
    except JobNotFound:
        raise Http404(f"no job {pk}") from None
