"""An ASGI guard that refuses a request body over the upload limit before anything buffers it.

Under ASGI, Django reads the whole body into memory (or a temporary file) before a view runs,
so the views' own 413 comes too late to protect the server; uvicorn has no body limit of its
own. This wraps the Django application (``project/asgi.py``): a declared ``Content-Length`` over
the limit is refused at once, unread; a body without one (chunked) is counted as it streams
and refused the moment it passes the limit, and Django is told the client left, so it stops.

Example::

    application = BodyLimit(get_asgi_application(), max_bytes=20 * 1024 * 1024)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

__all__ = ["BodyLimit", "too_large_message"]


def too_large_message(length: int, limit: int, *, streamed: bool = False) -> str:
    """The 413's words; the same as the views' (project/api/errors.py) so a client sees one message."""
    size = f"more than {limit:,} bytes" if streamed else f"{length:,} bytes"
    return f"The upload is {size}; at most {limit:,} bytes are accepted (TOLLGATE_MAX_UPLOAD_BYTES)."


class BodyLimit:
    """Refuse HTTP request bodies larger than ``max_bytes`` with a 413 JSON answer, unbuffered."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(send, too_large_message(declared, self.max_bytes))
            return
        received, refused = 0, False

        async def counted_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    await _refuse(send, too_large_message(received, self.max_bytes, streamed=True))
                    return {"type": "http.disconnect"}  # Django stops reading and answers nothing
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:  # after our 413 the application has nothing more to say
                await send(message)

        await self.app(scope, counted_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, detail: str) -> None:
    body = json.dumps({"detail": detail, "field": None}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
