"""Fixtures for sources: a user's table of its own per test, and the pipeline's rig of real parts.

A test's table lives in tollgate's database beside its tables, as a team's would, and is
dropped after the test with whatever tollgate made for it (triggers go with the table; the
capture functions, views and nearest functions are dropped by name).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connection

from tests.pipeline.conftest import rig, without_vector_index  # noqa: F401  (fixtures used by name)

_names = itertools.count(1)


@dataclass
class UserTable:
    """A team's table: ``id bigserial``, ``title``, ``body``, ``price``; written with plain SQL, as any app would."""

    name: str

    def sql(self, statement: str, params: list | None = None) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(statement.replace("{t}", self.name), params or [])
            return cursor.fetchall() if cursor.description else []

    def insert(self, *rows: tuple[str | None, str | None]) -> list[int]:
        """Insert (title, body) rows in one statement; returns their ids."""
        values = ", ".join(["(%s, %s)"] * len(rows))
        found = self.sql(
            f"INSERT INTO {{t}} (title, body) VALUES {values} RETURNING id", [v for row in rows for v in row]
        )
        return [row[0] for row in found]

    def text(self, row_id: int) -> str:
        """The row's text as a source of (title, body) makes it ('' for a row gone)."""
        found = self.sql("SELECT title, body FROM {t} WHERE id = %s", [row_id])
        if not found:
            return ""
        title, body = found[0]
        return "\n\n".join(value for value in (title, body) if value is not None)

    def queued(self) -> list[tuple[str | None, str]]:
        """The change queue: (row id, op), oldest first."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT row_id, op FROM embeddings_sourcechange ORDER BY id")
            return cursor.fetchall()


@pytest.fixture
def table(transactional_db) -> Iterator[UserTable]:
    name = f"team_articles_{os.getpid()}_{next(_names)}"
    users = UserTable(name)
    users.sql("CREATE TABLE {t} (id bigserial PRIMARY KEY, title text, body text, price numeric)")
    try:
        yield users
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
            cursor.execute(
                "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname LIKE 'tollgate\\_source\\_%%'"
            )
            for (function,) in cursor.fetchall():
                cursor.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")
            cursor.execute("SELECT viewname FROM pg_views WHERE viewname LIKE 'tollgate\\_source\\_%%'")
            for (view,) in cursor.fetchall():
                cursor.execute(f"DROP VIEW IF EXISTS {view}")
