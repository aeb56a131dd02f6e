"""Waking the followers: each worker's ticker sends one ``tollgate.sources_follow`` task while none waits.

One marker in the cache (Redis, shared by every host) says a follow task is waiting; the task
takes it away when it starts (:func:`follow_started`), so however many workers tick, one copy
waits at a time. With no source at all the followers rest for ``IDLE_SECONDS`` (a new source
wakes them at once: :func:`follow_soon`).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from project.celery import SOURCES_FOLLOW, app

__all__ = ["follow_soon", "follow_started", "follow_tick", "idle", "poll_seconds"]

logger = logging.getLogger(__name__)

PENDING_SECONDS = 30  # a follow task sent but lost (its worker died) is replaced this late
IDLE_SECONDS = 10  # with no source at all, the workers look again this late (a new source ends the wait)
_PENDING = "sources-follow-pending"
_IDLE = "sources-follow-idle"


def poll_seconds() -> float:
    """How often each worker looks for sources' work (``TOLLGATE_SOURCES_POLL_SECONDS``; 0: never)."""
    return settings.TOLLGATE_SOURCES_POLL_SECONDS


def follow_tick() -> bool:
    """A worker's tick: send a follow task unless one is waiting (one marker in the cache, shared by every host).

    Redis or the broker away for a moment is a warning, not an error: the next tick tries again.
    Returns whether a task was sent.
    """
    try:
        if cache.get(_IDLE) or not cache.add(_PENDING, 1, timeout=PENDING_SECONDS):
            return False
        app.send_task(SOURCES_FOLLOW, queue="interactive")
        return True
    except (RedisError, OperationalError) as exc:
        logger.warning("sources: could not ask for a follow: %s", exc)
        return False


def follow_started() -> None:
    """The waiting follow task runs: the next tick may send another."""
    cache.delete(_PENDING)


def idle() -> None:
    """No source at all: the ticks rest a while."""
    cache.set(_IDLE, 1, timeout=IDLE_SECONDS)


def follow_soon() -> None:
    """A source was made: the workers follow it from their next tick, not after an idle wait."""
    cache.delete(_IDLE)
