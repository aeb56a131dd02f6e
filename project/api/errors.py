"""Error responses, the API's one mapping of the rooms' errors (a DRF exception handler).

Every 400 names the field at fault; too large a body is a 413 before it is read; a provider or
limiter that cannot serve is a 503; an unknown job (or another owner's) a 404, a job in the
wrong state a 409; a spent daily token budget a 429 with ``Retry-After``, like a throttle.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from project.embeddings.budget import BudgetExceeded
from project.errors import JobNotFound, JobStateError, TollgateError
from providers import ProviderError, RateLimited
from ratelimit import NeverFits, RateLimitError

# The refusals DRF has no class for, by their code: the status and the words when none are given.
REFUSALS = {
    "payload_too_large": (status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "The request body is too large."),
    "conflict": (status.HTTP_409_CONFLICT, "The resource is not in a state that allows this."),
    "provider_unavailable": (status.HTTP_503_SERVICE_UNAVAILABLE, "The embedding provider is not available."),
    "service_unavailable": (status.HTTP_503_SERVICE_UNAVAILABLE, "A service tollgate needs is not available."),
}


class ApiError(exceptions.APIException):
    """One of :data:`REFUSALS`, answered with its status, ``code`` and ``detail``.

    Parameters: ``code`` names the refusal; ``detail`` says what happened (the refusal's own words
    if not given); ``wait``, in seconds, becomes the ``Retry-After`` header.

    Example::

        raise ApiError("conflict", "job 7 is completed: there is nothing to cancel")
    """

    def __init__(self, code: str, detail: str | None = None, *, wait: float | None = None) -> None:
        self.status_code, self.default_detail = REFUSALS[code]
        super().__init__(detail, code)
        self.wait = wait


def upload_too_large(request: HttpRequest) -> str | None:
    """A message when the declared body is larger than ``TOLLGATE_MAX_UPLOAD_BYTES``, else None."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    limit = settings.TOLLGATE_MAX_UPLOAD_BYTES
    if length <= limit:
        return None
    return f"The upload is {length:,} bytes; at most {limit:,} bytes are accepted (TOLLGATE_MAX_UPLOAD_BYTES)."


def first_error(errors: Any, path: str = "") -> tuple[str, str]:
    """The path (``[1].text``, ``q``) and message of the first error in DRF's nested error data."""
    if isinstance(errors, dict):
        items = list(errors.items())
    elif isinstance(errors, list) and any(isinstance(value, (dict, list)) for value in errors):
        items = list(enumerate(errors))  # one entry per item of a list of objects
    elif isinstance(errors, list):
        return path, str(errors[0]) if errors else ""
    else:
        return path, str(errors)
    for key, value in items:
        if not value:
            continue
        if isinstance(key, int) or str(key).isdigit():
            return first_error(value, f"{path}[{key}]")
        if key in ("non_field_errors", "detail"):
            return first_error(value, path)
        return first_error(value, f"{path}.{key}" if path else str(key))
    return path, ""


def as_api_exception(exc: Exception) -> Exception:
    """The HTTP meaning of an error of ``project``, ``providers`` or ``ratelimit``; others unchanged."""
    if isinstance(exc, JobNotFound):
        return exceptions.NotFound(str(exc))
    if isinstance(exc, JobStateError):
        return ApiError("conflict", str(exc))
    if isinstance(exc, BudgetExceeded):
        return exceptions.Throttled(wait=exc.retry_after, detail=str(exc))
    if isinstance(exc, RateLimited):
        return ApiError("provider_unavailable", str(exc), wait=exc.retry_after)
    if isinstance(exc, NeverFits):
        return exceptions.ValidationError({"q": [str(exc)]})
    if isinstance(exc, (TollgateError, ProviderError)) and exc.field:  # bad input: an unknown model, a refusal
        return exceptions.ValidationError({exc.field: [str(exc)]})
    if isinstance(exc, (ProviderError, RateLimitError)):
        return ApiError("provider_unavailable", str(exc))
    if isinstance(exc, TollgateError):
        return ApiError("service_unavailable", str(exc))
    return exc


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus ``detail`` and ``field`` on validation errors so a client sees what to fix."""
    exc = as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.ValidationError):
        field, message = first_error(response.data)
        response.data = {"detail": message, "field": field or None, "errors": response.data}
    elif response is not None and isinstance(exc, exceptions.ParseError):
        response.data = {"detail": str(exc.detail), "field": None}
    return response


def error_data(exc: Exception) -> dict:
    """An expected error as the body of a streamed answer's ``error`` event: the status it would have, ``detail``, ``field``."""
    mapped = as_api_exception(exc)
    if isinstance(mapped, exceptions.ValidationError):
        field, message = first_error(mapped.detail)
        return {"status": 400, "detail": message, "field": field or None}
    if isinstance(mapped, exceptions.APIException):
        return {"status": mapped.status_code, "detail": str(mapped.detail), "field": None}
    return {"status": 500, "detail": str(exc), "field": None}
