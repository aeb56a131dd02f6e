"""JSON in and out for every route: the one place that turns a ``SimulatorError`` into a response."""

from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.errors import InvalidRequestError, SimulatorError

__all__ = ["json_response", "error_response", "azure_error_response", "body_json", "JSON"]

JSON = "application/json"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, headers=headers, media_type=JSON)


def error_response(error: SimulatorError, started: float) -> Response:
    """The error's body and status, with the request id and processing time the API sends."""
    headers = {**error.headers, "x-request-id": f"req_{secrets.token_hex(16)}"}
    headers["openai-processing-ms"] = str(round((time.perf_counter() - started) * 1000))
    return json_response(error.body(), error.status, headers)


def azure_error_response(error: SimulatorError, started: float, request: Request) -> Response:
    """The error as Azure OpenAI words it: ``{"error": {"code", "message"}}`` with no ``type``.

    A 429 says "Please retry after N seconds" and sends ``Retry-After`` in whole seconds (no
    ``retry-after-ms``); a 401 is Azure's "Access denied"; the rest keep the API's message.
    """
    version = request.query_params.get("api-version", "")
    headers = {name: value for name, value in error.headers.items() if name != "retry-after-ms"}
    headers["apim-request-id"] = secrets.token_hex(16)
    message = error.message
    if error.status == 429 and error.type in ("requests", "tokens"):
        wait = max(1, math.ceil(float(getattr(error, "retry_after", 1.0))))
        headers["retry-after"] = str(wait)
        message = (
            f"Requests to the Embeddings_Create Operation under Azure OpenAI API version {version} have exceeded "
            f"{'call rate' if error.type == 'requests' else 'token rate'} limit of your current OpenAI S0 pricing "
            f"tier. Please retry after {wait} seconds. Please go here: https://aka.ms/oai/quotaincrease if you "
            "would like to further increase the default rate limit."
        )
    elif error.status == 401:
        message = (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid "
            "key for an active subscription and use a correct regional API endpoint for your resource."
        )
    code = str(error.status) if error.status in (401, 429) else str(error.code or error.status)
    body = {"error": {"code": code, "message": message}}
    return json_response(body, error.status, headers)


async def body_json(request: Request) -> tuple[Any, int]:
    """The parsed JSON body and its size in bytes; the API's 400 when it is not JSON."""
    raw = await request.body()
    try:
        return json.loads(raw), len(raw)
    except ValueError:
        raise InvalidRequestError(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
            "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
            "valid JSON.)"
        ) from None
