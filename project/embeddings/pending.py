"""One pending copy of a singleton task (the index maintainer, the batch driver) while another copy holds its lock.

The index maintainer and the batch driver run one at a time (a PostgreSQL advisory lock). A copy
that finds the lock held must not just end — what it was asked for may have come after the
holder looked — so it comes back shortly. But each beat tick, full segment and batch-lane commit
asks again, and a long index build would gather a copy per request, each retrying every 2 s.
So only one copy waits: the first to find the lock held puts its task id in a short-lived
Redis marker (the Django cache, shared by every host) and comes back; the others end, since
that one will run after them. The pending copy takes its marker away when it runs again, so
the next request that finds the lock held may wait in its place.

If the pending copy is lost (its worker died), the marker lapses after ``PENDING_SECONDS`` and
beat's next tick asks again.
"""

from __future__ import annotations

from django.core.cache import cache

__all__ = ["PENDING_SECONDS", "come_back", "running"]

PENDING_SECONDS = 30  # a lost pending copy is replaced at most this late (beat asks every sweep anyway)


def _key(name: str) -> str:
    return f"singleton-pending:{name}"


def running(name: str, task_id: str) -> None:
    """The pending copy of ``name`` runs: its place is free for the next request that finds the lock held."""
    if task_id and cache.get(_key(name)) == task_id:
        cache.delete(_key(name))


def come_back(name: str, task_id: str) -> bool:
    """Whether this copy, which found the lock held, should come back (it is the one pending copy now)."""
    return cache.add(_key(name), task_id or "?", timeout=PENDING_SECONDS)
