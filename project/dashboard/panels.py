"""The dashboard's live panels: the shared limit's chart, the jobs' progress chart, the workers.

Fragments that htmx polls and swaps in place; each view reads a selector and hands a template
the data (and :mod:`.charts` the geometry). An expected failure is a message in the panel.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from project.embeddings.jobs.selectors import job_list
from project.embeddings.models import ACTIVE_STATUSES
from project.monitoring.limiter import chat_models, limiter_view
from project.monitoring.queues import queue_depths
from project.monitoring.timeline import job_timeline
from project.monitoring.workers import WorkersStatus, workers_status

from .charts import limiter_charts, progress_chart
from .errors import expected, user_message

JOBS_CHARTED = 5


@login_required
@require_GET
def limits_chart(request: HttpRequest) -> HttpResponse:
    try:
        view, error = limiter_view(), ""
        chats = [limiter_view(model=model) for model in chat_models()]  # asks' admissions beside the embeddings'
    except expected() as exc:
        view, chats, error = None, [], user_message(exc)
    charts = [*limiter_charts(view), *(c for chat in chats for c in limiter_charts(chat, kind="chat"))] if view else []
    context = {"charts": charts, "error": error, "view": view}
    return render(request, "dashboard/_limits_chart.html", context)


@login_required
@require_GET
def progress(request: HttpRequest) -> HttpResponse:
    """The active jobs' progress over time (the latest job's when none is active)."""
    recent = list(job_list(viewer=request.user)[:JOBS_CHARTED])
    shown = [job for job in recent if job.status in ACTIVE_STATUSES] or recent[:1]
    now = timezone.now()
    chart = progress_chart([job_timeline(job, now=now) for job in shown], now=now)
    return render(request, "dashboard/_chart.html", {"chart": chart})


@login_required
@require_GET
async def workers(request: HttpRequest) -> HttpResponse:
    """Async: the broadcast waits up to a second and a half for the workers' replies, in a thread of its own,
    so the web process's other requests (which Django's ASGI handler runs in one thread) never wait behind it."""
    try:
        (status, queues), error = await sync_to_async(_workers_look, thread_sensitive=False)(), ""
    except expected() as exc:
        (status, queues), error = (None, None), user_message(exc)
    context = {"status": status, "queues": queues, "error": error, "flower_url": settings.TOLLGATE_FLOWER_URL}
    return render(request, "dashboard/_workers.html", context)


def _workers_look() -> tuple[WorkersStatus, dict[str, int] | None]:
    return workers_status(), queue_depths()
