"""Dashboard views: a page and the fragments htmx polls. They call selectors and services only."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from project.api.errors import upload_too_large
from project.embeddings.ingest.documents import upload_texts
from project.embeddings.jobs.lifecycle import job_cancel_unfinished, job_pause_active, job_resume_paused
from project.embeddings.jobs.progress import job_progress
from project.embeddings.jobs.selectors import failures_recent, job_get, job_list
from project.embeddings.jobs.submit import documents_submit
from project.embeddings.search.query import search as search_chunks
from project.errors import JobNotFound
from project.monitoring.limiter import limits_usage

from . import job_page
from .errors import expected, user_message

JOBS_SHOWN = 15
ACTIONS = {
    "pause": job_pause_active,
    "resume": job_resume_paused,
    "cancel": job_cancel_unfinished,
}


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/home.html", {"flower_url": settings.TOLLGATE_FLOWER_URL})


@login_required
@require_GET
def jobs(request: HttpRequest) -> HttpResponse:
    return _jobs_fragment(request)


def _jobs_fragment(request: HttpRequest) -> HttpResponse:
    progress = [job_progress(job) for job in job_list(viewer=request.user)[:JOBS_SHOWN]]
    return render(request, "dashboard/_jobs.html", {"jobs": progress})


@login_required
@require_GET
def limits(request: HttpRequest) -> HttpResponse:
    try:
        usage, error = limits_usage(), ""
    except expected() as exc:
        usage, error = None, user_message(exc)
    return render(request, "dashboard/_limits.html", {"usage": usage, "error": error})


@login_required
@require_GET
def failures(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/_failures.html", {"failures": failures_recent(viewer=request.user)})


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    hits, error = [], ""
    if query.strip():
        try:
            hits = search_chunks(query, viewer=request.user, k=5, collection=request.GET.get("collection") or None)
        except expected() as exc:
            error = user_message(exc)
    return render(request, "dashboard/_search.html", {"query": query, "hits": hits, "error": error})


@login_required
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    too_large = upload_too_large(request)
    if too_large:
        return render(request, "dashboard/error.html", {"message": too_large}, status=413)
    files = request.FILES.getlist("files")
    if not files:
        messages.error(request, "Choose at least one text file to upload.")
        return redirect("dashboard:home")
    collection = request.POST.get("collection") or "default"
    lane = request.POST.get("lane") or "sync"
    try:
        texts = upload_texts(files=[(f.name, f.read()) for f in files])
        submission = documents_submit(
            texts=[(collection, text) for text in texts], owner=request.user, lane=lane
        )
    except expected() as exc:
        messages.error(request, user_message(exc))
    else:
        messages.success(
            request,
            f"Job {submission.job.pk} ({submission.job.lane} lane): {submission.report.created} new documents, "
            f"{submission.plan.chunks} chunks to embed.",
        )
    return redirect("dashboard:home")


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
