"""The dashboard's sources panel: each table kept embedded, its rows, lag and versions (htmx polls it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from project.embeddings.sources.status import sources_statuses

from .errors import expected, user_message


@login_required
@require_GET
def sources(request: HttpRequest) -> HttpResponse:
    """The viewer's sources (staff: every one): rows, embedded, pending, lag, versions and a migration's progress.

    A source whose table is gone or renamed shows why in its row (``capture_error``)."""
    try:
        statuses, error = sources_statuses(viewer=request.user), ""
    except expected() as exc:
        statuses, error = [], user_message(exc)
    return render(request, "dashboard/_sources.html", {"sources": statuses, "error": error})
