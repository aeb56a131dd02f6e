"""JSON in and out for every route: the one place that turns a ``SimulatorError`` into a response."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from simulator.errors import InvalidRequestError, SimulatorError

__all__ = ["json_response", "error_response", "body_json", "JSON"]

JSON = "application/json"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(data, separators=(",", ":")), status_code=status, headers=headers, media_type=JSON)


def error_response(error: SimulatorError, started: float) -> Response:
    """The error's body and status, with the request id and processing time the API sends."""
    headers = {**error.headers, "x-request-id": f"req_{secrets.token_hex(16)}"}
    headers["openai-processing-ms"] = str(round((time.perf_counter() - started) * 1000))
    return json_response(error.body(), error.status, headers)


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
