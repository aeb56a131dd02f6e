"""The Celery app, per Celery's Django recipe: every ``CELERY_*`` Django setting configures it.

The web app, the CLI and the services enqueue through this app by task name
(``app.send_task("tollgate.embed_group", ...)``); the tasks themselves live in ``workers/``,
which a worker loads with ``uv run celery -A workers worker``. A worker, beat or Flower that
relies on the embedded services and finds them stopped exits at once with one line naming the
command that starts them, instead of retrying a dead broker forever.
"""

from __future__ import annotations

import os
import sys

from celery import Celery, signals

from project import embedded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("tollgate")
app.config_from_object("django.conf:settings", namespace="CELERY")

EMBED_GROUP = "tollgate.embed_group"
SWEEP = "tollgate.sweep"
INDEX_MAINTAIN = "tollgate.index_maintain"
BATCHES_DRIVE = "tollgate.batches_drive"
BATCH_STORE = "tollgate.batch_store"


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_connections(**_: object) -> None:
    """Django's request-cycle rule around each task: drop a connection that broke or outlived CONN_MAX_AGE.

    Celery's own fixup closes connections only every ``CELERY_DB_REUSE_MAX`` tasks (settings.py),
    so a connection that died with a PostgreSQL restart is replaced here, before the next task.
    """
    from django.db import close_old_connections

    close_old_connections()


@signals.celeryd_init.connect
@signals.beat_init.connect
def _require_embedded_services(**_: object) -> None:
    try:
        embedded.require_configured()
    except embedded.ServicesStopped as exc:
        print(f"tollgate: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
