"""The dashboard's search: the API's query cap and work rate, then the nearest chunks above a floor of similarity.

A query's embedding is a paid call that may wait for the shared limit, so the form says
"searching…" meanwhile (htmx's indicator). Results below ``TOLLGATE_MIN_SIMILARITY`` are noise
(any text is *some* distance from any other): when none is left, the page says there is no good
match instead of listing the least bad ones.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from project.embeddings.search.query import search as search_chunks

from .errors import expected, user_message
from .work import query_refusal, work_refusal

RESULTS = 5


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")
    minimum = settings.TOLLGATE_MIN_SIMILARITY
    context = {"query": query, "hits": [], "error": "", "minimum": minimum}
    if not query.strip():
        return render(request, "dashboard/_search.html", context)
    refusal = query_refusal(query) or work_refusal(request)
    if refusal:
        response = render(request, "dashboard/_search.html", {**context, "error": refusal.message}, status=refusal.status)
        return refusal.headers(response)
    try:
        context["hits"] = search_chunks(
            query, viewer=request.user, k=RESULTS, threshold=minimum, collection=request.GET.get("collection") or None
        )
    except expected() as exc:
        context["error"] = user_message(exc)
    return render(request, "dashboard/_search.html", context)
