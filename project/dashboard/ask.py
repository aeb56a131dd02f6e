"""The dashboard's ask box: the API's ask, streamed as events the page's script writes in as they come.

Counted against the user's ``TOLLGATE_WORK_RATE`` like a search (:mod:`.work`). A refusal before
the answer starts (an empty question, nothing stored, the rate) is one ``error`` event with its
status; one midway ends the stream with an ``error`` event after what was written.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from project.ask.answer import ask_start
from project.ask.events import ask_events, event, streaming_response

from .errors import expected, user_message
from .work import work_refusal


def _error(exc: Exception) -> dict:
    return {"detail": user_message(exc), "field": getattr(exc, "field", None)}


@login_required
@require_POST
def ask(request: HttpRequest) -> HttpResponse:
    refusal = work_refusal(request)
    if refusal:
        response = streaming_response(request, iter([event("error", {"detail": refusal.message, "field": None})]),
                                      status=refusal.status)  # fmt: skip
        return refusal.headers(response)
    try:
        asking = ask_start(request.POST.get("question", ""), owner=request.user,
                           collection=request.POST.get("collection") or None)  # fmt: skip
    except expected() as exc:
        status = 400 if getattr(exc, "field", None) else 503
        return streaming_response(request, iter([event("error", _error(exc))]), status=status)
    return streaming_response(request, ask_events(asking, error=_error))
