"""Per-user request rates for the API (DRF throttles), read from settings on every request.

``TOLLGATE_API_RATE`` caps every call of a user; ``TOLLGATE_WORK_RATE`` caps the calls that make
provider work (uploads and searches), which cost the shared limit and money, whether they come
through the API or the dashboard (:func:`work_wait`, the same count). The counts live in
the default cache (Redis), so every web process shares them. A refusal is DRF's 429 with
``Retry-After``. The rates are read when a request comes, not when the class is defined, so a
changed setting takes effect without a restart of the class (and tests can change them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

if TYPE_CHECKING:  # DRF imports this module while rest_framework.views loads
    from django.http import HttpRequest
    from rest_framework.request import Request
    from rest_framework.views import APIView

__all__ = ["ApiRateThrottle", "WorkRateThrottle", "work_wait"]


class ApiRateThrottle(UserRateThrottle):
    """Every API call of one user (anonymous callers are refused before, with 401)."""

    scope = "api"
    setting = "TOLLGATE_API_RATE"

    def get_rate(self) -> str | None:
        return getattr(settings, self.setting) or None

    def allow_request(self, request: Request, view: APIView) -> bool:
        """DRF's count, but a Redis that cannot count is a 503 (closed, as the broker is), not a 500."""
        try:
            return super().allow_request(request, view)
        except RedisError as exc:
            from .errors import ApiError  # not at the top: see TYPE_CHECKING above

            message = f"the API's throttle cannot reach Redis: {type(exc).__name__}"
            raise ApiError("service_unavailable", message) from exc


class WorkRateThrottle(ApiRateThrottle):
    """The calls that reach the provider: ``POST /api/documents`` and ``GET /api/search``."""

    scope = "work"
    setting = "TOLLGATE_WORK_RATE"


def work_wait(request: HttpRequest) -> float | None:
    """The dashboard's search or upload counted against the user's ``TOLLGATE_WORK_RATE``, with its API calls.

    Returns None when it may go ahead (and counts it), else the seconds to wait. Raises
    :class:`~project.api.errors.ApiError` (503) when Redis cannot count.
    """
    throttle = WorkRateThrottle()
    if throttle.allow_request(request, None):
        return None
    return throttle.wait() or 1.0
