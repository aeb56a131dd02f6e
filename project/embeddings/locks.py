"""PostgreSQL advisory locks: one holder at a time across every process and host of a deployment.

Session-level and tried, never waited for: a caller that does not get the lock knows another
is doing the work (the index maintainer, the batch driver, a batch's store) and leaves it.

Example::

    with advisory_lock(MAINTAIN_LOCK) as held:
        if not held:
            return None  # another maintainer runs
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

__all__ = ["advisory_lock"]


@contextmanager
def advisory_lock(*key: int) -> Iterator[bool]:
    """Try ``pg_try_advisory_lock(key...)`` (one bigint, or two ints); yields whether it is held, frees it after."""
    placeholders = ", ".join(["%s"] * len(key))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT pg_try_advisory_lock({placeholders})", list(key))
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT pg_advisory_unlock({placeholders})", list(key))
