"""What the dashboard checks before provider work (a search, an upload), as the API does.

Each search is a paid call and each upload provider work, so both count against the user's
``TOLLGATE_WORK_RATE`` together with the user's API calls (:func:`project.api.throttles.work_wait`),
and a query is capped at the API's length (``MAX_QUERY_CHARS``). A refusal is data; the view
renders it in place, with its status and ``Retry-After``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from project.api.errors import ApiError
from project.api.serializers import MAX_QUERY_CHARS
from project.api.throttles import work_wait

__all__ = ["MAX_QUERY_CHARS", "Refusal", "query_refusal", "work_refusal"]


@dataclass(frozen=True)
class Refusal:
    message: str
    status: int
    retry_after: int | None = None

    def headers(self, response: HttpResponse) -> HttpResponse:
        if self.retry_after is not None:
            response["Retry-After"] = str(self.retry_after)
        return response


def work_refusal(request: HttpRequest) -> Refusal | None:
    """None when the user may start provider work now (and it is counted), else why not."""
    try:
        wait = work_wait(request)
    except ApiError as exc:  # Redis cannot count: closed, as the API is
        return Refusal(str(exc.detail), exc.status_code)
    if wait is None:
        return None
    seconds = max(1, math.ceil(wait))
    return Refusal(
        f"Too many searches and uploads for now: try again in {seconds:,} s. Each costs provider work, so they "
        f"share your rate with your API calls (TOLLGATE_WORK_RATE, {settings.TOLLGATE_WORK_RATE} per user).",
        429,
        seconds,
    )


def query_refusal(query: str) -> Refusal | None:
    """A query longer than the API accepts is refused before it is embedded (a paid call)."""
    if len(query) <= MAX_QUERY_CHARS:
        return None
    return Refusal(f"The query is {len(query):,} characters; at most {MAX_QUERY_CHARS:,} are searched.", 400)
