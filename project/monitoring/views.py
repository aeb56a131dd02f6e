"""``GET /metrics``: Prometheus' text format, for staff or the metrics token.

The metrics sum every owner's jobs, tokens and limiter figures, so they answer only:

- ``Authorization: Bearer <TOLLGATE_METRICS_TOKEN>`` (Prometheus: ``authorization`` with a
  ``credentials_file`` in its scrape config);
- a staff user's API token, sent as ``Token <key>`` (as for ``/api/``) or ``Bearer <key>``;
- a staff user logged in to the dashboard.

No credentials, or credentials that name nobody, are a 401; a user who is not staff a 403.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .metrics import render

__all__ = ["metrics", "metrics_access"]

SCHEMES = ("bearer", "token")


def metrics_access(request: HttpRequest) -> int:
    """200 when the request may read the metrics, 401 when it names nobody, 403 when it names someone not staff."""
    if request.user.is_authenticated:
        return 200 if _staff(request.user) else 403
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if scheme.lower() not in SCHEMES or not credential:
        return 401
    token = settings.TOLLGATE_METRICS_TOKEN
    if scheme.lower() == "bearer" and token and hmac.compare_digest(credential.encode(), token.encode()):
        return 200
    try:
        user, _ = TokenAuthentication().authenticate_credentials(credential)
    except AuthenticationFailed:
        return 401
    return 200 if _staff(user) else 403


def _staff(user: AbstractBaseUser) -> bool:
    return bool(user.is_active and getattr(user, "is_staff", False))


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    access = metrics_access(request)
    if access == 403:
        return HttpResponse("the metrics cover every owner: they are for staff users\n", status=403,
                            content_type="text/plain")  # fmt: skip
    if access == 401:
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="tollgate metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
