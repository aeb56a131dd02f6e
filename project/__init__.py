"""The tollgate Django project; importing it makes the Celery app the current one (Celery's recipe)."""

from .celery import app as celery_app

__all__ = ["celery_app"]
