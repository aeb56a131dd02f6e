"""A bench's own world: a temporary TOLLGATE_HOME with embedded PostgreSQL and Redis, Django set up, migrated.

Nothing of the user's (``DATABASE_URL``, a real provider's key) leaks into a measurement, and
everything the run made is removed after it.

Example::

    with embedded_django("tollgate-ingest-bench-") as home:
        report = run(args, home)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

OUTSIDE = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
           "AZURE_OPENAI_ENDPOINT", "TOLLGATE_BULK_RESERVE")  # fmt: skip


@contextmanager
def embedded_django(prefix: str, *, migrate: bool = True, **env: str) -> Iterator[Path]:
    """Yield the home once its services run and its database is migrated; ``env`` is set first.

    ``migrate=False`` leaves the database empty (a bench that runs another checkout migrates it
    with that checkout's own migrations)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    for name in OUTSIDE:
        os.environ.pop(name, None)
    os.environ.update(TOLLGATE_HOME=str(home), DJANGO_SETTINGS_MODULE="project.settings", **env)
    import django

    from project import embedded

    try:
        with embedded.started(home):
            django.setup()
            from django.core.management import call_command

            if migrate:
                call_command("migrate", verbosity=0)
            yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def reset_state(redis_url: str) -> None:
    """Empty tables, no bulk indexes, an empty Redis: each cell starts as a fresh install does."""
    import redis
    from django.db import connection

    from project.embeddings.index.builder import RANGE_PREFIX
    from project.embeddings.models import Embedding

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE embeddings_document, embeddings_embeddingjob, embeddings_segment, embeddings_indexrange,"
            " embeddings_unindexedvector, embeddings_jobtally CASCADE"
        )
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s",
            [Embedding._meta.db_table, f"{RANGE_PREFIX}%"],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX IF EXISTS {name}")
    redis.Redis.from_url(redis_url).flushdb()
