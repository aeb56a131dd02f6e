"""Whether the database holds this code's tables: a query that fails for want of a migration is one line.

A fresh home (``tollgate services start`` migrates its own database; an external
``DATABASE_URL`` is migrated by the deploy, as the compose file's ``migrate`` service does) or
an upgrade not yet migrated makes the first query fail with PostgreSQL's "relation does not
exist". The faces (``manage.py``, ``project/cli.py``) turn that into
:class:`~project.errors.DatabaseNotMigrated`, which says to run ``migrate``; any other failure
stays what it is.

Example::

    try:
        handler(args)
    except ProgrammingError as exc:
        raise not_migrated(exc) or exc
"""

from __future__ import annotations

from django.db import DatabaseError, ProgrammingError, connection

from project.errors import DatabaseNotMigrated

__all__ = ["not_migrated", "pending_migrations", "require_migrated"]


def pending_migrations() -> int:
    """How many of the project's migrations the database has not applied."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return sum(1 for _, backwards in plan if not backwards)


def require_migrated() -> None:
    """Raise :class:`DatabaseNotMigrated` before work that would be lost on a database without our tables."""
    pending = pending_migrations()
    if pending:
        raise DatabaseNotMigrated(pending)


def not_migrated(exc: BaseException) -> DatabaseNotMigrated | None:
    """The error to show for ``exc`` if it failed for want of a migration, else None (``exc`` is what it is)."""
    if not isinstance(exc, ProgrammingError):
        return None
    connection.close()  # the failed statement may have left its transaction aborted
    try:
        pending = pending_migrations()
    except DatabaseError:
        return None
    return DatabaseNotMigrated(pending) if pending else None
