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


@signals.celeryd_init.connect
@signals.beat_init.connect
def _require_embedded_services(**_: object) -> None:
    try:
        embedded.require_configured()
    except embedded.ServicesStopped as exc:
        print(f"tollgate: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
