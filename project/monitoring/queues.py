"""How many tasks wait in the broker per lane (the ``bulk`` and ``interactive`` queues).

On a Redis broker a queue is a list (and one more per priority step, ``name\\x06\\x16N``), so the
depth is a few LLENs. Tasks a worker already holds (prefetched, or waiting for a retry's
countdown) are not in the list; other brokers report nothing here.
"""

from __future__ import annotations

import redis
from django.conf import settings

from project.errors import BrokerUnavailable

__all__ = ["LANES", "queue_depths"]

LANES = ("interactive", "bulk")
PRIORITY_SEPARATOR = "\x06\x16"  # kombu's Redis transport
PRIORITY_STEPS = (3, 6, 9)  # kombu's default priority steps above 0
TIMEOUT = 0.5  # seconds


def queue_depths() -> dict[str, int] | None:
    """Tasks waiting per lane, or None when the broker is not Redis.

    Raises :class:`~project.errors.BrokerUnavailable` when Redis does not answer.
    """
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return None
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        with client.pipeline(transaction=False) as pipe:
            for lane in LANES:
                for name in (lane, *(f"{lane}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS)):
                    pipe.llen(name)
            lengths = pipe.execute()
    except redis.RedisError as exc:
        raise BrokerUnavailable(type(exc).__name__) from exc
    finally:
        client.close()
    per_lane = 1 + len(PRIORITY_STEPS)
    return {lane: sum(lengths[i * per_lane : (i + 1) * per_lane]) for i, lane in enumerate(LANES)}
