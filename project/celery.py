"""The Celery app, per Celery's Django recipe: every ``CELERY_*`` Django setting configures it.

Start a worker in any terminal with ``uv run celery -A workers worker``; with no URLs set, it
finds the embedded Redis and PostgreSQL that tollgate started under ``TOLLGATE_HOME``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("tollgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])
