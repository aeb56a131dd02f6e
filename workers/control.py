"""A remote-control command for the dashboard and ``tollgate status``: a worker's load in one reply.

Celery's ``inspect stats`` and ``inspect active`` are two broadcasts; a look that takes the
workers online from one and the tasks running from the other shows a worker online with 0 tasks
when the second reply is late (a busy worker answers in about half a second). One broadcast of
this command answers both at once, so the figures come from the same moment.
"""

from __future__ import annotations

from celery.worker import state as worker_state
from celery.worker.control import inspect_command

__all__ = ["tollgate_load"]


@inspect_command()
def tollgate_load(state, **kwargs) -> dict:
    """Tasks running now (id and name), tasks received by name since start, the pool's size, and uptime."""
    stats = state.consumer.controller.stats()
    running = [{"id": request.id, "name": request.name} for request in state.tset(worker_state.active_requests)]
    return {
        "active": running,
        "total": stats.get("total") or {},
        "concurrency": (stats.get("pool") or {}).get("max-concurrency"),
        "uptime": stats.get("uptime") or 0,
    }
