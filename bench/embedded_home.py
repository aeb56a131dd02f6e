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

OUTSIDE = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")


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
