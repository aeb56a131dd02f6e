"""An ask as Server-Sent Events, for the API and the dashboard alike.

Events, in order: ``sources`` (the numbered sources, so ``[n]`` can link as the answer arrives),
``delta`` (a piece of the answer) as many as it takes, then ``done`` (the whole result: answer,
sources with ``cited``, ``not_used``, usage, cost), or ``error`` (``detail`` and ``field``, from the
face's own mapping) when it stops midway.

Under ASGI a sync iterator would be read whole before the first byte is sent, so
:func:`streaming_response` reads the ask in a thread of its own and hands each event to the
event loop as it comes; the thread closes its database connection when the ask ends, and a
client that goes away stops it at the next piece.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict

from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import HttpRequest, StreamingHttpResponse

from project.ask.answer import Asking
from project.errors import expected

__all__ = ["ask_events", "event", "streaming_response"]

EVENT_STREAM = "text/event-stream"


def event(name: str, data: dict) -> str:
    """One SSE event: its name and one line of JSON."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def ask_events(asking: Asking, *, error: Callable[[Exception], dict]) -> Iterator[str]:
    """The ask's events; ``error`` turns an expected failure midway into the ``error`` event's data."""
    yield event("sources", {"sources": [asdict(source) for source in asking.sources]})
    try:
        for piece in asking:
            yield event("delta", {"text": piece})
    except expected() as exc:
        yield event("error", error(exc))
        return
    yield event("done", asking.result().as_dict())


def streaming_response(request: HttpRequest, events: Iterator[str], *, status: int = 200) -> StreamingHttpResponse:
    """``events`` as ``text/event-stream``, sent as each comes (under ASGI through a thread of their own)."""
    body = _relay(events) if isinstance(request, ASGIRequest) else events
    response = StreamingHttpResponse(body, status=status, content_type=EVENT_STREAM)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy in front (nginx) must not hold the answer back either
    return response


async def _relay(events: Iterator[str]) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in events:
                loop.call_soon_threadsafe(queue.put_nowait, item)
                if stop.is_set():
                    break
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()  # the ask's own end: the limiter learns, the ask is recorded
            connection.close()  # this thread's
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=produce, name="ask-events", daemon=True).start()
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        stop.set()
