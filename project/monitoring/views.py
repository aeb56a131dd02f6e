"""``GET /metrics``: Prometheus' text format, for a logged-in user, an API token or the metrics token.

Prometheus sends ``Authorization: Bearer <TOLLGATE_METRICS_TOKEN>`` (``bearer_token_file`` or
``authorization`` in its scrape config); scripts may send their API token (``Token <key>``) as
for ``/api/``; a person logged in to the dashboard may look too. Anything else is a 401.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .metrics import render


def allowed(request: HttpRequest) -> bool:
    """Whether the request may read the metrics (see the module's docstring)."""
    if request.user.is_authenticated:
        return True
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    credential = credential.strip()
    if not credential:
        return False
    token = settings.TOLLGATE_METRICS_TOKEN
    if scheme.lower() == "bearer" and token:
        return hmac.compare_digest(credential.encode(), token.encode())
    if scheme.lower() == "token":
        try:
            TokenAuthentication().authenticate_credentials(credential)
        except AuthenticationFailed:
            return False
        return True
    return False


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not allowed(request):
        response = HttpResponse("authentication required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="tollgate metrics"'
        return response
    return HttpResponse(render(), content_type=CONTENT_TYPE_LATEST)
