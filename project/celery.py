"""The Celery app, per Celery's Django recipe: every ``CELERY_*`` Django setting configures it.

The web app, the CLI and the services enqueue through this app by task name
(``app.send_task("tollgate.embed_group", ...)``); the tasks themselves live in ``workers/``,
which a worker loads with ``uv run celery -A workers worker``. A worker, beat or Flower that
relies on the embedded services and finds them stopped exits at once with one line naming the
command that starts them, instead of retrying a dead broker forever.

A broker behind Redis Sentinel is given as tollgate's Sentinel URL (``ratelimit/sentinel.py``,
the one ``REDIS_URL`` takes); :func:`sentinel_broker` turns it into Celery's own form, which
the settings read.
"""

from __future__ import annotations

import os
import sys
from typing import Any
from urllib.parse import quote

from celery import Celery, signals

from project import embedded
from ratelimit import SentinelUrl

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("tollgate")
app.config_from_object("django.conf:settings", namespace="CELERY")

EMBED_GROUP = "tollgate.embed_group"
SWEEP = "tollgate.sweep"
INDEX_MAINTAIN = "tollgate.index_maintain"
BATCHES_DRIVE = "tollgate.batches_drive"
BATCH_STORE = "tollgate.batch_store"
SOURCES_FOLLOW = "tollgate.sources_follow"


def sentinel_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's form of a Sentinel URL: the broker URL and the transport options it needs.

    Kombu's Redis transport takes one ``sentinel://`` URL per sentinel, joined by ``;`` (the
    first carries the data nodes' credentials and the database), and the master's name and the
    sentinels' own password in the transport options. Raises ``ValueError`` for a bad URL.

    Example::

        sentinel_broker("sentinel://:pw@h1:26379,h2:26379/mymaster/0")
        # ("sentinel://:pw@h1:26379/0;sentinel://:pw@h2:26379/0", {"master_name": "mymaster"})
    """
    sentinel = SentinelUrl.parse(url)
    auth = ""
    if sentinel.username or sentinel.password:
        auth = f"{quote(sentinel.username or '', safe='')}:{quote(sentinel.password or '', safe='')}@"
    hosts = [(f"[{host}]" if ":" in host else host, port) for host, port in sentinel.sentinels]  # IPv6 in brackets
    broker = ";".join(f"sentinel://{auth}{host}:{port}/{sentinel.db}" for host, port in hosts)
    options: dict[str, Any] = {"master_name": sentinel.service}
    if sentinel.sentinel_password:
        options["sentinel_kwargs"] = {"password": sentinel.sentinel_password}
    return broker, options


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
