"""Checks made before the first call of a job: what would make every paid response unstorable."""

from __future__ import annotations

import functools

from django.db import connection

from project.embeddings.models import Embedding
from project.errors import DimensionsMismatch

__all__ = ["dimensions_check", "vector_column_dimensions"]


def vector_column_dimensions() -> int | None:
    """The dimensions the vector column holds, as PostgreSQL declares them (None: not declared)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'vector'",
            [Embedding._meta.db_table],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] > 0 else None


@functools.cache
def _column_dimensions(database: str) -> int | None:
    return vector_column_dimensions()


def dimensions_check(dimensions: int, *, cached: bool = False) -> None:
    """:class:`DimensionsMismatch` when vectors of ``dimensions`` cannot be stored: one clear error, no call.

    ``cached`` (a worker, before each group) reads the column once per process and database: it
    changes only with a migration, which restarts the workers.
    """
    column = _column_dimensions(connection.settings_dict["NAME"]) if cached else vector_column_dimensions()
    if column is not None and column != dimensions:
        raise DimensionsMismatch(dimensions, column)
