"""``text/event-stream`` for content negotiation: a streamed answer's refusal before it starts is one ``error`` event."""

from __future__ import annotations

from rest_framework.renderers import BaseRenderer

from project.ask.events import EVENT_STREAM, event


class EventStreamRenderer(BaseRenderer):
    """Lets ``Accept: text/event-stream`` through; a body rendered here (an error) is an ``error`` event."""

    media_type = EVENT_STREAM
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        response = (renderer_context or {}).get("response")
        status = response.status_code if response is not None else 200
        body = data if isinstance(data, dict) else {"detail": data}
        return event("error", {"status": status, "detail": body.get("detail"), "field": body.get("field")}).encode()
