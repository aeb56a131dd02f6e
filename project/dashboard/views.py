"""Dashboard views: a page and the fragments htmx polls. They call selectors and services only."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from project.embeddings.jobs.lifecycle import job_cancel_unfinished, job_pause_active, job_resume_paused
from project.embeddings.jobs.selectors import failures_recent, job_get, job_list
from project.errors import JobNotFound
from project.monitoring.figures import jobs_figures
from project.monitoring.limiter import limits_usage
from project.monitoring.pool import pool_views

from . import job_page
from .errors import expected, user_message
from .work import MAX_QUERY_CHARS

JOBS_SHOWN = 15
ACTIONS = {
    "pause": job_pause_active,
    "resume": job_resume_paused,
    "cancel": job_cancel_unfinished,
}


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {"flower_url": settings.TOLLGATE_FLOWER_URL, "max_query_chars": MAX_QUERY_CHARS}
    return render(request, "dashboard/home.html", context)


@login_required
@require_GET
def jobs(request: HttpRequest) -> HttpResponse:
    return _jobs_fragment(request)


def _jobs_fragment(request: HttpRequest) -> HttpResponse:
    progress = jobs_figures(job_list(viewer=request.user)[:JOBS_SHOWN])
    return render(request, "dashboard/_jobs.html", {"jobs": progress})


@login_required
@require_GET
def limits(request: HttpRequest) -> HttpResponse:
    try:
        usage, deployments, error = limits_usage(), pool_views(), ""
    except expected() as exc:
        usage, deployments, error = None, [], user_message(exc)
    return render(request, "dashboard/_limits.html", {"usage": usage, "deployments": deployments, "error": error})


@login_required
@require_GET
def failures(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/_failures.html", {"failures": failures_recent(viewer=request.user)})


@login_required
@require_POST
def job_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    service = ACTIONS.get(action)
    try:
        job_get(job_id=pk, viewer=request.user)  # another owner's job is not found, like a missing one
    except JobNotFound:
        raise Http404(f"there is no job {pk}") from None
    if service is None:
        return HttpResponse(status=404)
    try:
        service(job_id=pk, viewer=request.user)
    except expected() as exc:
        messages.error(request, user_message(exc))
    on_job_page = request.POST.get("view") == "job"
    if request.headers.get("HX-Request"):
        return job_page.live_fragment(request, pk) if on_job_page else _jobs_fragment(request)
    return redirect("dashboard:job", pk=pk) if on_job_page else redirect("dashboard:home")
